// Secrets, encrypted in this browser to a repository's key from the attested keystore, exactly
// as services/keystore/keys.py decrypts them: a libsodium sealed box (X25519 +
// XSalsa20-Poly1305) of the JSON object of names to values (sorted keys).
import { ed25519 } from "@noble/curves/ed25519.js";
import { api, query } from "./api";
import { base64, fromHex, hex, sha256 } from "./near";
import { parseTdReport, type TdReport } from "./tdx";

export const MAX_SECRETS_BYTES = 64 * 1024;
export const MAX_BLOB_BYTES = 16 * 1024; // what store_secrets takes, in base64
// outlayer/platform_env.py's RESERVED: the platform sets these for every run.
const RESERVED = new Set([
  "OUTLAYER_EXECUTION_TYPE", "NEAR_NETWORK_ID", "NEAR_SENDER_ID", "NEAR_USER_ACCOUNT_ID",
  "NEAR_CONTRACT_ID", "NEAR_BLOCK_HEIGHT", "NEAR_BLOCK_TIMESTAMP", "NEAR_TRANSACTION_HASH",
  "NEAR_REQUEST_ID", "NEAR_PAYMENT_YOCTO", "ATTACHED_USD", "USD_PAYMENT", "OUTLAYER_CALL_ID",
  "NEAR_MAX_INSTRUCTIONS", "NEAR_MAX_MEMORY_MB", "NEAR_MAX_EXECUTION_SECONDS",
  "OUTLAYER_PROJECT_OWNER", "OUTLAYER_PROJECT_NAME",
]);
const DEVELOPMENT_LABEL = "outlayer-development-attestation";

export interface Verdict {
  mode: "development" | "tdx";
  ok: boolean; // the attestation binds the keystore's certificate, identity and our nonce
  identity: string; // hex: the attested identity key that signs repositories' keys
  reasons: string[];
  attestation: any;
  nonce: string;
  report?: TdReport; // a TDX quote's measurements
}

/** Fetches the keystore's attestation for a fresh nonce and checks what the browser can: that
 * it binds the served TLS key, the identity key and the nonce. A development attestation is
 * labelled as such and worth nothing outside development; a TDX quote's signature chain is
 * checked by `outlayer attestation verify` (shown as not verified here). */
export async function verifyKeystore(): Promise<Verdict> {
  const nonce = crypto.getRandomValues(new Uint8Array(32));
  const attestation = await api(`/attestation${query({ nonce: hex(nonce) })}`);
  const reasons: string[] = [];
  const identity = String(attestation.identity ?? "");
  let expected = "";
  try {
    const spki = spkiOf(String(attestation.tls_certificate_pem ?? ""));
    const binding = sha256(concat(spki, fromHex(identity)));
    expected = hex(binding) + hex(nonce);
  } catch (error) {
    reasons.push(`the attestation's certificate or identity cannot be read: ${(error as Error).message}`);
  }
  if (attestation.report_data && expected && attestation.report_data !== expected) {
    reasons.push("report_data does not bind this keystore's TLS key, identity and our nonce");
  }
  const quote = new TextDecoder().decode(base64.decode(String(attestation.quote ?? "")));
  if (attestation.mode === "development") {
    const statement = pythonJson({
      report_data: expected,
      type: DEVELOPMENT_LABEL,
      warning: "NOT a TDX quote: this keystore runs without hardware protection",
    });
    if (quote !== statement) reasons.push("the development statement does not bind this key and our nonce");
    return { mode: "development", ok: reasons.length === 0, identity, reasons, attestation, nonce: hex(nonce) };
  }
  let report: TdReport | undefined;
  if (attestation.mode !== "tdx") {
    reasons.push(`unknown attestation mode ${JSON.stringify(attestation.mode)}`);
  } else {
    try {
      report = parseTdReport(base64.decode(String(attestation.quote ?? "")));
      if (expected && report.report_data !== expected) {
        reasons.push("the quote's report_data does not bind this keystore's TLS key, identity and our nonce");
      }
    } catch (error) {
      reasons.push(`the quote cannot be read: ${(error as Error).message}`);
    }
  }
  reasons.push("the TDX quote's signature chain, TCB status and measurements are not verified in the browser: run `outlayer attestation verify`");
  return { mode: "tdx", ok: false, identity, reasons, attestation, nonce: hex(nonce), report };
}

/** The repository's public key, once the attested identity is seen to have signed it. */
export async function repoKey(repo: string, branch: string, identity: string): Promise<Uint8Array> {
  const key = await api(`/secrets/public-key${query({ repo, branch })}`);
  const statement = pythonJson({ branch: key.branch ?? "", public_key: key.public_key, repo: key.repo });
  const ok = ed25519.verify(fromHex(key.signature), new TextEncoder().encode(statement), fromHex(identity));
  if (!ok) throw new Error("the repository key is not signed by the attested keystore: do not encrypt to it");
  if ((key.branch ?? "") !== branch) throw new Error("the keystore answered for another branch");
  return fromHex(key.public_key);
}

export function checkSecrets(pairs: [string, string][]): Record<string, string> {
  const secrets: Record<string, string> = {};
  if (!pairs.length) throw new Error("add at least one secret (NAME and value)");
  for (const [name, value] of pairs) {
    if (!name || name.includes("=") || name.includes("\0") || value.includes("\0")) {
      throw new Error(`secret name ${JSON.stringify(name)} is not a valid environment variable`);
    }
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new Error(`secret name ${JSON.stringify(name)}: use letters, digits and _ (not starting with a digit)`);
    }
    if (RESERVED.has(name)) throw new Error(`${name} is set by the platform for every run; choose another name`);
    if (name in secrets) throw new Error(`${name} is given twice`);
    secrets[name] = value;
  }
  return secrets;
}

export async function seal(publicKey: Uint8Array, secrets: Record<string, string>): Promise<string> {
  const sorted = Object.fromEntries(Object.keys(secrets).sort().map((k) => [k, secrets[k]]));
  const plain = new TextEncoder().encode(pythonJson(sorted));
  if (plain.length > MAX_SECRETS_BYTES) throw new Error(`secrets take ${plain.length} bytes; at most ${MAX_SECRETS_BYTES}`);
  const sodium = (await import("libsodium-wrappers")).default; // large: loaded when needed
  await sodium.ready;
  const blob = base64.encode(sodium.crypto_box_seal(plain, publicKey));
  if (blob.length > MAX_BLOB_BYTES) {
    throw new Error(`the encrypted secrets take ${blob.length} bytes of base64; the contract stores at most ${MAX_BLOB_BYTES}`);
  }
  return blob;
}

/** Python's json.dumps(value, sort_keys=True) of an object of strings (separators ", " and
 * ": ", non-ASCII escaped): the bytes the keystore signs and the CLI encrypts. */
function pythonJson(value: Record<string, string>): string {
  const text = (s: string) => JSON.stringify(s).replace(/[\u0080-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  return "{" + Object.keys(value).sort().map((k) => `${text(k)}: ${text(value[k])}`).join(", ") + "}";
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

// --- the certificate's SubjectPublicKeyInfo (DER), as the keystore binds it ------------------

function spkiOf(pem: string): Uint8Array {
  const body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
  const der = base64.decode(body);
  const cert = readTlv(der, 0); // Certificate SEQUENCE
  const tbs = readTlv(der, cert.start); // TBSCertificate SEQUENCE
  let at = tbs.start;
  const fields: { tag: number; begin: number; end: number }[] = [];
  while (at < tbs.end) {
    const field = readTlv(der, at);
    fields.push({ tag: field.tag, begin: at, end: field.end });
    at = field.end;
  }
  // [0] version (optional), serial, signature algorithm, issuer, validity, subject, SPKI
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
  const spki = fields[offset + 5];
  if (!spki || spki.tag !== 0x30) throw new Error("no SubjectPublicKeyInfo in the certificate");
  return der.slice(spki.begin, spki.end);
}

function readTlv(der: Uint8Array, at: number): { tag: number; start: number; end: number } {
  const tag = der[at];
  let length = der[at + 1];
  let start = at + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[start + i];
    start += count;
  }
  if (start + length > der.length) throw new Error("truncated DER");
  return { tag, start, end: start + length };
}

/** Access conditions for store_secrets, as the contract takes them. */
export type Condition =
  | { AllowAll: Record<string, never> }
  | { Whitelist: { accounts: string[] } }
  | { AccountPattern: { pattern: string } }
  | { NearBalance: { min_balance: string } }
  | { FtBalance: { contract_id: string; min_balance: string } }
  | { NftOwned: { contract_id: string } }
  | { Logic: { operator: "And" | "Or" | "Not"; conditions: Condition[] } };
