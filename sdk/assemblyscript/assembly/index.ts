// OutLayer's guest SDK for AssemblyScript (WASI through @assemblyscript/wasi-shim): input and
// output, the environment, refunds, and the platform's capabilities (storage, verifiable
// randomness, NEAR reads, outbound HTTPS) over the host functions of docs/guest-abi.md.
//
// AssemblyScript has no exceptions to catch, so every capability answers a Result: `ok`, then
// `value`, else `error` (a HostError with the ABI's status and the platform's message).

// --- the host functions ---------------------------------------------------------------------
@external("outlayer", "storage_get")
declare function storage_get(key: usize, keyLen: u32, flags: u32): i64;
@external("outlayer", "storage_set")
declare function storage_set(key: usize, keyLen: u32, value: usize, valueLen: u32, flags: u32): i64;
@external("outlayer", "storage_delete")
declare function storage_delete(key: usize, keyLen: u32, flags: u32): i64;
@external("outlayer", "storage_swap")
declare function storage_swap(key: usize, keyLen: u32, expected: usize, expectedLen: u32,
                              value: usize, valueLen: u32, flags: u32): i64;
@external("outlayer", "storage_increment")
declare function storage_increment(key: usize, keyLen: u32, delta: i64, flags: u32): i64;
@external("outlayer", "storage_list")
declare function storage_list(prefix: usize, prefixLen: u32, cursor: usize, cursorLen: u32,
                              flags: u32): i64;
@external("outlayer", "random")
declare function random_(seed: usize, seedLen: u32): i64;
@external("outlayer", "near_view")
declare function near_view(contract: usize, contractLen: u32, method: usize, methodLen: u32,
                           args: usize, argsLen: u32): i64;
@external("outlayer", "near_view_account")
declare function near_view_account(account: usize, accountLen: u32): i64;
@external("outlayer", "near_block")
declare function near_block(): i64;
@external("outlayer", "fetch")
declare function fetch_(request: usize, requestLen: u32): i64;
@external("outlayer", "refund_usd")
declare function refund_usd(amount: i64): void;
@external("outlayer", "result_read")
declare function result_read(ptr: usize, cap: u32): u32;

// --- statuses and results -------------------------------------------------------------------
export namespace status {
  export const NOT_FOUND: i64 = -1; // storage: no such key; chain: no such account or contract
  export const NOT_ENABLED: i64 = -2; // the capability is off for this run
  export const LIMIT: i64 = -3; // a per-run cap (calls, bytes, time) is reached
  export const QUOTA: i64 = -4; // the storage quota is full, or a value is too large
  export const INVALID: i64 = -5; // a malformed argument
  export const UNAVAILABLE: i64 = -6; // the service did not answer in time; try later
  export const REFUSED: i64 = -7; // not allowed: off the allowlist, a private address, TLS
  export const CONFLICT: i64 = -8; // storage: another run wrote the key meanwhile
  export const FAILED: i64 = -9; // the service answered with an error (a view panicked)
}

const STATUS_NAMES: string[] = ["NOT_FOUND", "NOT_ENABLED", "LIMIT", "QUOTA", "INVALID",
  "UNAVAILABLE", "REFUSED", "CONFLICT", "FAILED"];

/** A failed host call: the ABI's status and what the platform said. */
export class HostError {
  constructor(public status: i64, public message: string) {}

  /** The ABI's name of the status: "NOT_FOUND", ... */
  get name(): string {
    return this.status < 0 && this.status >= -9 ? STATUS_NAMES[<i32>(-this.status - 1)] : "UNKNOWN";
  }

  get isNotFound(): bool {
    return this.status == status.NOT_FOUND;
  }

  toString(): string {
    return this.name + " (" + this.status.toString() + "): " + this.message;
  }
}

/** A capability's answer: `value` when `ok`, else `error`. */
export class Result<T> {
  constructor(public value: T, public error: HostError | null) {}

  get ok(): bool {
    return this.error === null;
  }

  /** The value; aborts the run with the error's text when the call failed. */
  unwrap(): T {
    const error = this.error;
    if (error !== null) abort(error.toString());
    return this.value;
  }
}

/** The result buffer, as the last host call left it (`length` < 0: a message of any length). */
function readResult(length: i64): Uint8Array {
  let cap: i32 = length >= 0 ? <i32>length : 256;
  while (true) {
    const buffer = new Uint8Array(cap);
    const copied = <i32>result_read(buffer.dataStart, <u32>cap);
    if (length >= 0 || copied < cap) return buffer.subarray(0, copied);
    cap *= 4; // a longer message: the buffer stays until the next host call
  }
}

function failure(code: i64): HostError {
  return new HostError(code, String.UTF8.decode(readResult(-1).slice().buffer));
}

function bytesResult(code: i64): Result<Uint8Array> {
  if (code < 0) return new Result<Uint8Array>(new Uint8Array(0), failure(code));
  return new Result<Uint8Array>(code == 0 ? new Uint8Array(0) : readResult(code), null);
}

function textResult(code: i64): Result<string> {
  const bytes = bytesResult(code);
  return new Result<string>(bytes.ok ? utf8(bytes.value) : "", bytes.error);
}

function boolResult(code: i64): Result<bool> {
  if (code < 0) return new Result<bool>(false, failure(code));
  return new Result<bool>(code == 1, null);
}

function utf8(bytes: Uint8Array): string {
  return String.UTF8.decode(bytes.slice().buffer);
}

function encoded(text: string): Uint8Array {
  return Uint8Array.wrap(String.UTF8.encode(text));
}

// --- input, output, environment, refunds ----------------------------------------------------

/** The run's whole input (stdin). */
export function input(): Uint8Array {
  const parts = new Array<Uint8Array>();
  let total = 0;
  while (true) {
    const buffer = new ArrayBuffer(4096);
    const n = <i32>process.stdin.read(buffer);
    if (n <= 0) break;
    parts.push(Uint8Array.wrap(buffer, 0, n));
    total += n;
  }
  const all = new Uint8Array(total);
  let offset = 0;
  for (let i = 0; i < parts.length; i++) {
    all.set(parts[i], offset);
    offset += parts[i].length;
  }
  return all;
}

/** The run's input as text. */
export function inputString(): string {
  return utf8(input());
}

/** Writes the run's output (stdout). */
export function output(data: Uint8Array): void {
  process.stdout.write(data.slice().buffer);
}

export function outputString(text: string): void {
  process.stdout.write(text);
}

/** An environment variable (the platform's own, such as NEAR_SENDER_ID, or a secret the
 * request names); null when unset or empty. */
export function env(name: string): string | null {
  if (!process.env.has(name)) return null;
  const value = process.env.get(name);
  return value.length > 0 ? value : null;
}

/** Gives back part of the USD payment attached to the call (ATTACHED_USD, in the coin's
 * smallest unit); capped at what was attached, and the last call counts. */
export function refundUsd(amount: u64): void {
  refund_usd(amount > <u64>i64.MAX_VALUE ? i64.MAX_VALUE : <i64>amount);
}

// --- storage --------------------------------------------------------------------------------

/** A space of the run's store: shared by every caller, or the caller's own. */
export enum Space {
  Shared = 0,
  PerCaller = 1,
}

const EXPECT_ABSENT: u32 = 2;

export namespace storage {
  /** The value of `key`; an error with status NOT_FOUND when there is none. */
  export function get(key: string, space: Space = Space.Shared): Result<Uint8Array> {
    const k = encoded(key);
    return bytesResult(storage_get(k.dataStart, k.length, space));
  }

  export function getString(key: string, space: Space = Space.Shared): Result<string> {
    const k = encoded(key);
    return textResult(storage_get(k.dataStart, k.length, space));
  }

  export function set(key: string, value: Uint8Array, space: Space = Space.Shared): Result<bool> {
    const k = encoded(key);
    return boolResult(storage_set(k.dataStart, k.length, value.dataStart, value.length, space));
  }

  export function setString(key: string, value: string, space: Space = Space.Shared): Result<bool> {
    return set(key, encoded(value), space);
  }

  /** True if it deleted the key, false if there was none. */
  export function remove(key: string, space: Space = Space.Shared): Result<bool> {
    const k = encoded(key);
    return boolResult(storage_delete(k.dataStart, k.length, space));
  }

  /** Writes `value` if the key holds `expected` (null: only if it is absent); true if it wrote. */
  export function swap(key: string, expected: Uint8Array | null, value: Uint8Array,
                       space: Space = Space.Shared): Result<bool> {
    const k = encoded(key);
    if (expected === null) {
      return boolResult(storage_swap(k.dataStart, k.length, 0, 0, value.dataStart, value.length,
                                     <u32>space | EXPECT_ABSENT));
    }
    return boolResult(storage_swap(k.dataStart, k.length, expected.dataStart, expected.length,
                                   value.dataStart, value.length, space));
  }

  /** Adds `delta` to the decimal counter at `key` (absent counts as 0): the new total. */
  export function increment(key: string, delta: i64 = 1, space: Space = Space.Shared): Result<i64> {
    const k = encoded(key);
    const total = textResult(storage_increment(k.dataStart, k.length, delta, space));
    return new Result<i64>(total.ok ? I64.parseInt(total.value) : 0, total.error);
  }

  /** Up to 100 keys starting with `prefix` after `cursor` ("" from the start), as the ABI's
   * JSON: {"keys": [...], "next_cursor": "..."}. */
  export function list(prefix: string, cursor: string = "", space: Space = Space.Shared): Result<string> {
    const p = encoded(prefix);
    const c = encoded(cursor);
    return textResult(storage_list(p.dataStart, p.length, c.dataStart, c.length, space));
  }
}

// --- randomness -----------------------------------------------------------------------------

/** An ECVRF (RFC 9381) output for the job's request and a seed, with its proof (anyone checks
 * it: outlayer vrf verify --origin ORIGIN --seed HEX --proof HEX). Hex fields as answered. */
export class Randomness {
  output: string = ""; // 64 bytes, hex
  proof: string = ""; // 80 bytes, hex
  publicKey: string = ""; // 32 bytes, hex
  origin: string = ""; // near:CONTRACT:REQUEST_ID or https:CALL_ID
  seed: string = ""; // hex
  prover: string = "";
  json: string = ""; // the answer as the platform wrote it

  /** The output's first byte (0..255). */
  get firstByte(): u8 {
    return <u8>I32.parseInt(this.output.substring(0, 2), 16);
  }
}

/** Randomness for this request and `seed` (at most 1 KiB). */
export function random(seed: Uint8Array): Result<Randomness> {
  const answer = textResult(random_(seed.dataStart, seed.length));
  const r = new Randomness();
  if (!answer.ok) return new Result<Randomness>(r, answer.error);
  const json = answer.value;
  r.output = jsonString(json, "output");
  r.proof = jsonString(json, "proof");
  r.publicKey = jsonString(json, "public_key");
  r.origin = jsonString(json, "origin");
  r.seed = jsonString(json, "seed");
  r.prover = jsonString(json, "prover");
  r.json = json;
  return new Result<Randomness>(r, null);
}

// --- NEAR reads -----------------------------------------------------------------------------
export namespace near {
  /** Calls a view method with `args` (usually JSON); its return value (usually JSON). */
  export function view(contract: string, method: string, args: string = "{}"): Result<string> {
    const c = encoded(contract);
    const m = encoded(method);
    const a = encoded(args);
    return textResult(near_view(c.dataStart, c.length, m.dataStart, m.length, a.dataStart, a.length));
  }

  /** The account as JSON (amount, locked, code_hash, storage_usage, ...). */
  export function viewAccount(account: string): Result<string> {
    const a = encoded(account);
    return textResult(near_view_account(a.dataStart, a.length));
  }

  /** The final block's header as JSON (height, hash, timestamp, ...). */
  export function block(): Result<string> {
    return textResult(near_block());
  }
}

// --- outbound HTTPS -------------------------------------------------------------------------

/** What the remote host answered. */
export class Response {
  status: i32 = 0;
  body: Uint8Array = new Uint8Array(0);
  json: string = ""; // the whole answer: {"status", "url", "headers", "body" (base64)}

  get text(): string {
    return utf8(this.body);
  }
}

/** Sends a request to a host the module declares (the outlayer.fetch section); `headers` is a
 * JSON object ("{}" for none). The platform's refusals are errors (REFUSED, NOT_ENABLED, ...). */
export function fetch(method: string, url: string, headers: string = "{}",
                      body: Uint8Array | null = null): Result<Response> {
  let request = '{"method":' + quote(method) + ',"url":' + quote(url) + ',"headers":' + headers;
  if (body !== null) request += ',"body":"' + base64Encode(body) + '"';
  const r = encoded(request + "}");
  const answer = textResult(fetch_(r.dataStart, r.length));
  const response = new Response();
  if (!answer.ok) return new Result<Response>(response, answer.error);
  response.json = answer.value;
  response.status = I32.parseInt(jsonNumber(answer.value, "status"));
  response.body = base64Decode(jsonString(answer.value, "body"));
  return new Result<Response>(response, null);
}

// --- small JSON and base64 helpers ----------------------------------------------------------

/** `text` as a JSON string literal, quotes included. */
export function quote(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c == 0x22) out += '\\"';
    else if (c == 0x5c) out += "\\\\";
    else if (c < 0x20) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += String.fromCharCode(c);
  }
  return out + '"';
}

function valueAt(json: string, name: string): i32 {
  const at = json.indexOf('"' + name + '"');
  if (at < 0) return -1;
  let i = json.indexOf(":", at + name.length + 2) + 1;
  while (i > 0 && i < json.length && json.charCodeAt(i) == 0x20) i++;
  return i;
}

/** A top-level string member of a flat JSON object (as the platform's answers are); "" if none.
 * Escapes other than \" and \\ are kept as written. */
export function jsonString(json: string, name: string): string {
  let i = valueAt(json, name);
  if (i <= 0 || json.charCodeAt(i) != 0x22) return "";
  let out = "";
  for (i++; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (c == 0x22) break;
    if (c == 0x5c && i + 1 < json.length) {
      const next = json.charCodeAt(i + 1);
      if (next == 0x22 || next == 0x5c) {
        out += String.fromCharCode(next);
        i++;
        continue;
      }
    }
    out += String.fromCharCode(c);
  }
  return out;
}

/** A top-level number member of a flat JSON object, as text; "0" if none. */
export function jsonNumber(json: string, name: string): string {
  const start = valueAt(json, name);
  if (start <= 0) return "0";
  let end = start;
  while (end < json.length) {
    const c = json.charCodeAt(end);
    if (!((c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x2e)) break;
    end++;
  }
  return end > start ? json.substring(start, end) : "0";
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

export function base64Encode(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const left = bytes.length - i;
    const n = (<u32>bytes[i] << 16) | (left > 1 ? <u32>bytes[i + 1] << 8 : 0) |
              (left > 2 ? <u32>bytes[i + 2] : 0);
    out += B64.charAt((n >> 18) & 63) + B64.charAt((n >> 12) & 63);
    out += left > 1 ? B64.charAt((n >> 6) & 63) : "=";
    out += left > 2 ? B64.charAt(n & 63) : "=";
  }
  return out;
}

export function base64Decode(text: string): Uint8Array {
  const out = new Array<u8>();
  let acc: u32 = 0;
  let bits: u32 = 0;
  for (let i = 0; i < text.length; i++) {
    const value = B64.indexOf(text.charAt(i));
    if (value < 0) continue; // padding
    acc = (acc << 6) | <u32>value;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push(<u8>(acc >> bits));
      acc &= (1 << bits) - 1;
    }
  }
  const bytes = new Uint8Array(out.length);
  for (let i = 0; i < out.length; i++) bytes[i] = out[i];
  return bytes;
}
