// The keystore's attestation, judged in this browser: that it binds the keystore's TLS key, its
// identity key (which signs repositories' keys) and our nonce, and, for a TDX keystore, that
// Intel's signature chain, collateral and TCB status verify (dcap.ts). Pure functions of what the
// keystore answered, so the tests run them under Node as the browser does.
import { sha256 } from "@noble/hashes/sha2.js";
import { base64 } from "@scure/base";
import { type Check, type DcapVerdict, hexOf, type Measurements, verifyQuote, type VerifyOptions } from "./dcap.js";

const DEVELOPMENT_LABEL = "outlayer-development-attestation";
const MEASURED = ["mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3"] as const;
const ALLOWLIST_KEY = "outlayer.measurements";

export type MeasurementSet = Record<(typeof MEASURED)[number], string>;

export interface Verdict {
  mode: string; // "development" | "tdx" (or what an unknown keystore said)
  ok: boolean; // every check passed: encrypting to this keystore's keys is safe
  identity: string; // hex: the attested identity key that signs repositories' keys
  reasons: string[]; // the failed checks' details
  checks: Check[]; // each check, passed or not (TDX: Intel's chain, TCB, binding, allow-list)
  attestation: any;
  nonce: string;
  dcap?: DcapVerdict; // a TDX quote's verification (chain, collateral, TCB status)
  report?: Measurements; // a TDX quote's measurements
  allowlisted?: boolean; // the measurements are on this browser's allow-list (undefined: none set)
}

/** Judges an attestation the keystore made for ``nonce``, at ``atUnix`` (collateral expires). */
export function judgeAttestation(attestation: any, nonce: Uint8Array, atUnix: number,
  allowlist: MeasurementSet[] | null = null, options: VerifyOptions = {}): Verdict {  // prettier-ignore
  const checks: Check[] = [];
  const identity = String(attestation?.identity ?? "");
  const mode = String(attestation?.mode ?? "");
  const verdict: Verdict = { mode, ok: false, identity, reasons: [], checks, attestation, nonce: hexOf(nonce) };
  const finish = () => {
    verdict.reasons = checks.filter((c) => !c.ok).map((c) => c.detail);
    verdict.ok = verdict.reasons.length === 0;
    return verdict;
  };
  let expected = "";
  try {
    const spki = spkiOf(String(attestation?.tls_certificate_pem ?? ""));
    if (!/^[0-9a-fA-F]{64}$/.test(identity)) throw new Error("the identity key is not 32 bytes of hex");
    expected = hexOf(sha256(Uint8Array.of(...spki, ...fromHex(identity)))) + hexOf(nonce);
  } catch (error) {
    checks.push({ id: "binding", label: "the attestation binds this keystore's keys and our nonce", ok: false,
      detail: `the attestation's certificate or identity cannot be read: ${(error as Error).message}` });  // prettier-ignore
    return finish();
  }
  let quote: Uint8Array;
  try {
    quote = base64.decode(String(attestation.quote ?? ""));
  } catch {
    checks.push({ id: "quote", label: "the quote is readable", ok: false, detail: "the attestation's quote is not base64" });
    return finish();
  }
  // The answer's own report_data field, when given, must say the same as the quote.
  const said = attestation.report_data === undefined || attestation.report_data === expected;
  const bound = (found: string | undefined, what: string): Check => ({
    id: "binding",
    label: "report_data = SHA-256(TLS key ‖ identity) ‖ our nonce",
    ok: found === expected && said,
    detail: found === expected && said
      ? "binds this keystore's TLS key, identity key and our nonce"
      : `${what} does not bind this keystore's TLS key, identity and our nonce: it vouches for other keys (or another nonce)`,
  });
  if (mode === "development") {
    const statement = pythonJson({
      report_data: expected,
      type: DEVELOPMENT_LABEL,
      warning: "NOT a TDX quote: this keystore runs without hardware protection",
    });
    const text = new TextDecoder().decode(quote);
    checks.push({
      ...bound(text === statement ? expected : undefined, "the development statement"),
      detail: text === statement ? "the labelled development statement binds this key and our nonce"
        : "the development statement does not bind this key and our nonce",
    });  // prettier-ignore
    return finish();
  }
  if (mode !== "tdx") {
    checks.push({ id: "mode", label: "a known attestation mode", ok: false, detail: `unknown attestation mode ${JSON.stringify(mode)}` });
    return finish();
  }
  const dcap = verifyQuote(quote, String(attestation.collateral_json ?? ""), atUnix, options);
  verdict.dcap = dcap;
  verdict.report = dcap.measurements ?? undefined;
  checks.push(...dcap.checks);
  if (dcap.measurements) {
    checks.push(bound(dcap.measurements.report_data, "the quote's report_data"));
    const measured = Object.fromEntries(MEASURED.map((m) => [m, dcap.measurements![m]])) as MeasurementSet;
    if (allowlist) {
      verdict.allowlisted = allowlist.some((entry) => MEASURED.every((m) => entry[m] === measured[m]));
      checks.push({
        id: "measurements", label: "the measurements (MRTD, RTMR0-3) are on this browser's allow-list", ok: verdict.allowlisted,
        detail: verdict.allowlisted ? `one of ${allowlist.length} allowed sets`
          : "the measurements (MRTD, RTMR0-3) are not on this browser's allow-list: the keystore runs other code",
      });  // prettier-ignore
    }
  }
  return finish();
}

/** Refuses to encrypt to a keystore whose attestation did not pass, saying why. */
export function assertEncryptable(verdict: Verdict | undefined): Verdict {
  if (!verdict) throw new Error("the keystore's attestation is not checked yet: nothing is encrypted to it");
  if (!verdict.ok) {
    throw new Error(`the keystore's attestation is not verified, nothing is encrypted to it: ${verdict.reasons.join("; ")}`);
  }
  return verdict;
}

// --- this browser's measurement allow-list (as `outlayer attestation verify --measurements`) --

export function parseAllowlist(text: string): MeasurementSet[] {
  let value: any;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('the allow-list is not JSON: expected {"measurements": [{"mrtd": "...", "rtmr0": "...", ..., "rtmr3": "..."}]}');
  }
  const entries = Array.isArray(value) ? value : value?.measurements;
  if (!Array.isArray(entries) || !entries.length) throw new Error('the allow-list needs {"measurements": [ ...one or more sets... ]}');
  return entries.map((entry: any, i: number) => {
    const set = {} as MeasurementSet;
    for (const m of MEASURED) {
      const v = String(entry?.[m] ?? "").toLowerCase();
      if (!/^[0-9a-f]{96}$/.test(v)) throw new Error(`allow-list entry ${i + 1}: ${m} must be 48 bytes of hex (96 digits)`);
      set[m] = v;
    }
    return set;
  });
}

export function loadAllowlist(): MeasurementSet[] | null {
  try {
    const text = globalThis.localStorage?.getItem(ALLOWLIST_KEY);
    return text ? parseAllowlist(text) : null;
  } catch {
    return null;
  }
}

export function saveAllowlist(text: string): MeasurementSet[] | null {
  if (!text.trim()) {
    localStorage.removeItem(ALLOWLIST_KEY);
    return null;
  }
  const sets = parseAllowlist(text);
  localStorage.setItem(ALLOWLIST_KEY, JSON.stringify({ measurements: sets }));
  return sets;
}

// --- encodings ---------------------------------------------------------------------------------

function fromHex(text: string): Uint8Array {
  return Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));
}

/** Python's json.dumps(value, sort_keys=True) of an object of strings (separators ", " and
 * ": ", non-ASCII escaped): the bytes the keystore signs and the CLI encrypts. */
export function pythonJson(value: Record<string, string>): string {
  const text = (s: string) => JSON.stringify(s).replace(/[\u0080-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  return "{" + Object.keys(value).sort().map((k) => `${text(k)}: ${text(value[k])}`).join(", ") + "}";
}

/** The certificate's SubjectPublicKeyInfo (DER), as the keystore binds it. */
export function spkiOf(pem: string): Uint8Array {
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
