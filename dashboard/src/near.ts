// NEAR in the browser: JSON-RPC, borsh-encoded transactions, ed25519 keys and signatures.
// Transactions are built and signed here, with the user's key; nothing is signed by a server.
import { ed25519 } from "@noble/curves/ed25519.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { base58, base64 } from "@scure/base";

export const TGAS = 10n ** 12n;
export const NEAR = 10n ** 24n;

export type Action =
  | { kind: "functionCall"; method: string; args: unknown; gas: bigint; deposit: bigint }
  | { kind: "transfer"; deposit: bigint };

export function functionCall(
  method: string,
  args: unknown,
  deposit: bigint = 0n,
  gas: bigint = 300n * TGAS,
): Action {
  return { kind: "functionCall", method, args, gas, deposit };
}

/** An error the chain or the RPC node gave, in words a user can act on. */
export class ChainError extends Error {}

// --- keys ----------------------------------------------------------------------------------

export interface KeyPair {
  accountId: string;
  publicKey: Uint8Array; // 32 bytes
  seed: Uint8Array; // 32 bytes
}

/** A near-cli key file (`{"account_id", "public_key", "private_key": "ed25519:..."}`). */
export function parseKeyFile(text: string): KeyPair {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new Error("the key file is not JSON (expected near-cli's {account_id, private_key})");
  }
  if (typeof data !== "object" || data === null) throw new Error("the key file is not a JSON object");
  const record = data as Record<string, unknown>;
  const accountId = record.account_id;
  const secret = record.private_key ?? record.secret_key;
  if (typeof accountId !== "string" || !isAccountId(accountId)) {
    throw new Error("the key file has no valid account_id");
  }
  if (typeof secret !== "string" || !secret.startsWith("ed25519:")) {
    throw new Error("the key file's private_key must start with ed25519:");
  }
  let raw: Uint8Array;
  try {
    raw = base58.decode(secret.slice("ed25519:".length));
  } catch {
    throw new Error("the key file's private_key is not base58");
  }
  if (raw.length !== 64 && raw.length !== 32) {
    throw new Error(`the key file's private_key is ${raw.length} bytes; an ed25519 key is 64`);
  }
  const seed = raw.slice(0, 32);
  const publicKey = ed25519.getPublicKey(seed);
  if (raw.length === 64 && !equal(publicKey, raw.slice(32))) {
    throw new Error("the key file's private_key is damaged (its public half does not match)");
  }
  if (typeof record.public_key === "string" && record.public_key !== publicKeyText(publicKey)) {
    throw new Error("the key file's public_key does not match its private_key");
  }
  return { accountId, publicKey, seed };
}

export function publicKeyText(publicKey: Uint8Array): string {
  return "ed25519:" + base58.encode(publicKey);
}

/** NEAR's account id rules: 2 to 64 of a-z 0-9 and separators - _ . (not at either end). */
export function isAccountId(text: string): boolean {
  return (
    text.length >= 2 &&
    text.length <= 64 &&
    /^(([a-z\d]+[-_])*[a-z\d]+\.)*([a-z\d]+[-_])*[a-z\d]+$/.test(text)
  );
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

// --- borsh ---------------------------------------------------------------------------------

class Writer {
  private parts: number[] = [];
  u8(v: number): void {
    this.parts.push(v & 0xff);
  }
  u32(v: number): void {
    for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff);
  }
  uint(v: bigint, bytes: number): void {
    if (v < 0n || v >= 1n << BigInt(8 * bytes)) throw new Error(`${v} does not fit ${bytes} bytes`);
    for (let i = 0; i < bytes; i++) this.parts.push(Number((v >> BigInt(8 * i)) & 0xffn));
  }
  raw(b: Uint8Array): void {
    for (const x of b) this.parts.push(x);
  }
  bytes(b: Uint8Array): void {
    this.u32(b.length);
    this.raw(b);
  }
  string(s: string): void {
    this.bytes(new TextEncoder().encode(s));
  }
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export interface Transaction {
  signerId: string;
  publicKey: Uint8Array;
  nonce: bigint;
  receiverId: string;
  blockHash: Uint8Array;
  actions: Action[];
}

/** The transaction's borsh bytes (v0), exactly as nearcore (and localnet) hash them. */
export function encodeTransaction(tx: Transaction): Uint8Array {
  const w = new Writer();
  w.string(tx.signerId);
  w.u8(0); // ed25519
  w.raw(tx.publicKey);
  w.uint(tx.nonce, 8);
  w.string(tx.receiverId);
  w.raw(tx.blockHash);
  w.u32(tx.actions.length);
  for (const action of tx.actions) {
    if (action.kind === "functionCall") {
      w.u8(2);
      w.string(action.method);
      w.bytes(new TextEncoder().encode(JSON.stringify(action.args ?? {})));
      w.uint(action.gas, 8);
      w.uint(action.deposit, 16);
    } else {
      w.u8(3);
      w.uint(action.deposit, 16);
    }
  }
  return w.done();
}

export function signTransaction(tx: Transaction, seed: Uint8Array): Uint8Array {
  const body = encodeTransaction(tx);
  const signature = ed25519.sign(sha256(body), seed);
  const out = new Uint8Array(body.length + 65);
  out.set(body);
  out[body.length] = 0; // ed25519
  out.set(signature, body.length + 1);
  return out;
}

// --- JSON-RPC ------------------------------------------------------------------------------

export interface Outcome {
  txHash: string;
  value: unknown; // the final receipt's return value, parsed as JSON when it is JSON
  logs: string[];
}

export class Rpc {
  private id = 0;
  constructor(readonly url: string) {}

  async call<T = any>(method: string, params: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: ++this.id, method, params }),
      });
    } catch {
      throw new ChainError(`NEAR JSON-RPC at ${this.url} did not answer; is the node up?`);
    }
    const body = await response.json().catch(() => null);
    if (body === null) throw new ChainError(`NEAR JSON-RPC at ${this.url} answered ${response.status}`);
    if (body.error) {
      const cause = body.error.cause?.name ?? body.error.name ?? "ERROR";
      const info = body.error.data ?? body.error.cause?.info ?? body.error.message;
      throw new RpcFailure(cause, typeof info === "string" ? info : JSON.stringify(info));
    }
    return body.result as T;
  }

  /** A contract's view method, its JSON result. */
  async view<T = any>(contractId: string, method: string, args: unknown = {}): Promise<T> {
    const result = await this.call("query", {
      request_type: "call_function",
      finality: "optimistic",
      account_id: contractId,
      method_name: method,
      args_base64: base64.encode(new TextEncoder().encode(JSON.stringify(args))),
    });
    if (result.error) throw new ChainError(cleanPanic(String(result.error)));
    const text = new TextDecoder().decode(Uint8Array.from(result.result as number[]));
    return (text ? JSON.parse(text) : null) as T;
  }

  async account(accountId: string): Promise<{ amount: string } | null> {
    try {
      return await this.call("query", {
        request_type: "view_account",
        finality: "optimistic",
        account_id: accountId,
      });
    } catch (error) {
      if (error instanceof RpcFailure && error.cause === "UNKNOWN_ACCOUNT") return null;
      throw error;
    }
  }

  /** Signs in this browser and sends; waits until final (a yielding request: until resolved). */
  async send(key: KeyPair, receiverId: string, actions: Action[], timeoutMs = 120_000): Promise<Outcome> {
    const publicKey = publicKeyText(key.publicKey);
    let access: { nonce: number };
    try {
      access = await this.call("query", {
        request_type: "view_access_key",
        finality: "optimistic",
        account_id: key.accountId,
        public_key: publicKey,
      });
    } catch (error) {
      if (error instanceof RpcFailure) {
        throw new ChainError(`${key.accountId} has no access key ${publicKey} on this chain (${error.message})`);
      }
      throw error;
    }
    const block = await this.call("block", { finality: "final" });
    const tx: Transaction = {
      signerId: key.accountId,
      publicKey: key.publicKey,
      nonce: BigInt(access.nonce) + 1n,
      receiverId,
      blockHash: base58.decode(block.header.hash),
      actions,
    };
    const signed = signTransaction(tx, key.seed);
    let txHash: string;
    try {
      txHash = await this.call<string>("broadcast_tx_async", [base64.encode(signed)]);
    } catch (error) {
      if (error instanceof RpcFailure) throw new ChainError(`the transaction was refused: ${error.message}`);
      throw error;
    }
    return this.waitFinal(txHash, key.accountId, timeoutMs);
  }

  async waitFinal(txHash: string, sender: string, timeoutMs: number): Promise<Outcome> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let status: any;
      try {
        status = await this.call("tx", { tx_hash: txHash, sender_account_id: sender, wait_until: "FINAL" });
      } catch (error) {
        if (!(error instanceof RpcFailure) || !["TIMEOUT_ERROR", "UNKNOWN_TRANSACTION"].includes(error.cause)) {
          throw error;
        }
      }
      if (status && status.final_execution_status === "FINAL") return outcomeOf(txHash, status);
      if (Date.now() > deadline) {
        throw new ChainError(`transaction ${txHash} is not final after ${timeoutMs / 1000} s; look it up later`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

export class RpcFailure extends ChainError {
  constructor(
    readonly cause: string,
    message: string,
  ) {
    super(message);
  }
}

function outcomeOf(txHash: string, status: any): Outcome {
  const logs: string[] = (status.receipts_outcome ?? []).flatMap((r: any) => r.outcome?.logs ?? []);
  if (status.status?.Failure) {
    const failure = status.status.Failure;
    const text =
      failure.ActionError?.kind?.FunctionCallError?.ExecutionError ?? JSON.stringify(failure);
    throw new ChainError(cleanPanic(String(text)));
  }
  const encoded: string = status.status?.SuccessValue ?? "";
  const text = new TextDecoder().decode(base64.decode(encoded));
  let value: unknown = text;
  try {
    value = text ? JSON.parse(text) : null;
  } catch {
    /* not JSON: the text */
  }
  return { txHash, value, logs };
}

/** "Smart contract panicked: OutLayer: ..." -> "OutLayer: ...". */
export function cleanPanic(text: string): string {
  const at = text.indexOf("OutLayer:");
  return at >= 0 ? text.slice(at) : text;
}

// --- amounts -------------------------------------------------------------------------------

/** A token amount in its smallest unit, shown with its decimals ("1.5"). */
export function formatUnits(amount: string | bigint | undefined, decimals: number, digits = 6): string {
  if (amount === undefined || amount === "") return "—";
  let value = BigInt(amount);
  const negative = value < 0n;
  if (negative) value = -value;
  const scale = 10n ** BigInt(decimals);
  const whole = value / scale;
  let fraction = (value % scale).toString().padStart(decimals, "0").slice(0, digits).replace(/0+$/, "");
  if (!fraction && value % scale !== 0n && whole === 0n) return `${negative ? "-" : ""}<0.${"0".repeat(digits - 1)}1`;
  return (negative ? "-" : "") + whole.toString() + (fraction ? "." + fraction : "");
}

/** "1.5" in whole units, or "1500000" in the smallest: the smallest unit, or an error. */
export function parseUnits(text: string, decimals: number): bigint {
  const t = text.trim();
  if (!/^\d+(\.\d+)?$/.test(t)) throw new Error(`${JSON.stringify(text)} is not an amount (e.g. 1.5)`);
  const [whole, fraction = ""] = t.split(".");
  if (fraction.length > decimals) throw new Error(`at most ${decimals} decimals`);
  return BigInt(whole) * 10n ** BigInt(decimals) + BigInt(fraction.padEnd(decimals, "0") || "0");
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function fromHex(text: string): Uint8Array {
  if (!/^([0-9a-fA-F]{2})*$/.test(text)) throw new Error("not hexadecimal");
  return Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));
}

export { sha256, base64, base58 };
