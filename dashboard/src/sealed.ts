// Secrets, encrypted in this browser to a repository's key from the attested keystore, exactly
// as services/keystore/keys.py decrypts them: a libsodium sealed box (X25519 +
// XSalsa20-Poly1305) of the JSON object of names to values (sorted keys).
import { ed25519 } from "@noble/curves/ed25519.js";
import { api, query } from "./api";
import { assertEncryptable, judgeAttestation, loadAllowlist, pythonJson, type Verdict } from "./attest";
import { base64, fromHex, hex } from "./near";

export { assertEncryptable, type Verdict };

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

/** Fetches the keystore's attestation for a fresh nonce and judges it here (attest.ts): that it
 * binds the keystore's TLS key, identity key and our nonce and, for a TDX keystore, that Intel's
 * signature chain, collateral and TCB status verify at this browser's time. A development
 * attestation is labelled as such and worth nothing outside development. */
export async function verifyKeystore(): Promise<Verdict> {
  const nonce = crypto.getRandomValues(new Uint8Array(32));
  const attestation = await api(`/attestation${query({ nonce: hex(nonce) })}`);
  return judgeAttestation(attestation, nonce, Math.floor(Date.now() / 1000), loadAllowlist());
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

/** Access conditions for store_secrets, as the contract takes them. */
export type Condition =
  | { AllowAll: Record<string, never> }
  | { Whitelist: { accounts: string[] } }
  | { AccountPattern: { pattern: string } }
  | { NearBalance: { min_balance: string } }
  | { FtBalance: { contract_id: string; min_balance: string } }
  | { NftOwned: { contract_id: string } }
  | { Logic: { operator: "And" | "Or" | "Not"; conditions: Condition[] } };
