// Intel DCAP verification of a TDX quote, in the browser: the same checks, offsets and TCB
// evaluation as the register contract (contract/register/contract.py) and dcap-qvl. Nothing
// here trusts the keystore or the edge: the quote and its collateral are checked against Intel's
// SGX Root CA, pinned below, at a time the caller gives (the browser's clock).
//
// Self-contained (no imports of this dashboard's modules) so the tests can compile and run it
// under Node exactly as the browser runs it.
import { p256 } from "@noble/curves/nist.js";
import { sha256 } from "@noble/hashes/sha2.js";

// Intel SGX Root CA: the SHA-256 of its DER certificate (as contract/register pins it).
export const INTEL_ROOT_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3";
const ECDSA_SHA256_OID = "2a8648ce3d040302"; // 1.2.840.10045.4.3.2
const SGX_EXT_OID = "2a864886f84d010d01"; // 1.2.840.113741.1.13.1: Intel's PCK extension
const TDX_TEE_TYPE = 0x81;
export const ACCEPTED_TCB = ["UpToDate"];

export interface Measurements {
  mrtd: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
  report_data: string;
}

/** One check of the verification: its id (stable, for pages and tests), what it proves, and
 * whether it held (detail: what was found, or why it failed). */
export interface Check {
  id: string;
  label: string;
  ok: boolean;
  detail: string;
}

export interface DcapVerdict {
  ok: boolean; // every check passed and the TCB status is accepted
  tcb_status: string | null; // the platform's TCB level (dcap-qvl's status)
  qe_tcb_status: string | null;
  tdx_module_tcb_status: string | null;
  advisory_ids: string[]; // of the platform, QE and TDX module levels, sorted
  fmspc: string | null;
  measurements: Measurements | null;
  checks: Check[];
  reasons: string[]; // the failed checks' details, in order
  verified_at: number; // unix seconds the validity periods were checked at
  collateral_expires_at: number | null; // the earliest nextUpdate of the collateral
}

export interface VerifyOptions {
  rootCaDer?: Uint8Array; // another root than Intel's (tests, private deployments)
  acceptedTcb?: string[];
}

// --- bytes and DER ---------------------------------------------------------------------------

export function hexOf(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function unhex(text: unknown, name: string, size?: number): Uint8Array {
  if (typeof text !== "string" || !/^([0-9a-fA-F]{2})*$/.test(text)) throw new Error(`${name} is not hexadecimal`);
  const out = Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));
  if (size !== undefined && out.length !== size) throw new Error(`${name} must be ${size} bytes`);
  return out;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

interface Tlv {
  tag: number;
  start: number; // content
  end: number;
  header: number; // where the element (its tag) begins
}

function tlv(buf: Uint8Array, pos: number, end: number): Tlv {
  if (pos + 2 > end) throw new Error("truncated DER");
  const tag = buf[pos];
  let size = buf[pos + 1];
  let at = pos + 2;
  if (size & 0x80) {
    const count = size & 0x7f;
    if (count === 0 || count > 3 || at + count > end) throw new Error("bad DER length");
    size = 0;
    for (let i = 0; i < count; i++) size = size * 256 + buf[at + i];
    at += count;
  }
  if (at + size > end) throw new Error("a DER element overruns its container");
  return { tag, start: at, end: at + size, header: pos };
}

function items(buf: Uint8Array, start: number, end: number): Tlv[] {
  const out: Tlv[] = [];
  for (let pos = start; pos < end; ) {
    const item = tlv(buf, pos, end);
    out.push(item);
    pos = item.end;
  }
  return out;
}

const content = (buf: Uint8Array, t: Tlv) => buf.subarray(t.start, t.end);
const whole = (buf: Uint8Array, t: Tlv) => buf.subarray(t.header, t.end);

/** An INTEGER's value as hex without leading zeros (serial numbers compare as numbers). */
function intHex(bytes: Uint8Array): string {
  return hexOf(bytes).replace(/^0+/, "") || "0";
}

/** An ECDSA-Sig-Value (DER) as the 64 bytes r || s. */
function compactSignature(der: Uint8Array): Uint8Array {
  const seq = tlv(der, 0, der.length);
  const parts = items(der, seq.start, seq.end);
  if (seq.tag !== 0x30 || parts.length !== 2 || parts.some((p) => p.tag !== 2)) throw new Error("not an ECDSA signature");
  const out = new Uint8Array(64);
  parts.forEach((p, i) => {
    const value = content(der, p).subarray(content(der, p).findIndex((b) => b !== 0));
    if (value.length > 32) throw new Error("an ECDSA signature value is too long");
    out.set(value, 32 * i + 32 - value.length);
  });
  return out;
}

function asn1Time(buf: Uint8Array, t: Tlv): number {
  const text = new TextDecoder().decode(content(buf, t));
  let year: number;
  let rest: string;
  if (t.tag === 0x17) {
    year = parseInt(text.slice(0, 2), 10);
    year += year < 50 ? 2000 : 1900;
    rest = text.slice(2);
  } else if (t.tag === 0x18) {
    year = parseInt(text.slice(0, 4), 10);
    rest = text.slice(4);
  } else throw new Error("a time has an unknown ASN.1 type");
  const n = (i: number) => parseInt(rest.slice(i, i + 2), 10);
  return Date.UTC(year, n(0) - 1, n(2), n(4), n(6), n(8)) / 1000;
}

/** '2025-07-19T10:16:03Z' (Intel's JSON) as unix seconds. */
function isoTime(text: unknown, name: string): number {
  const ms = typeof text === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(text) ? Date.parse(text) : NaN;
  if (Number.isNaN(ms)) throw new Error(`${name} is not a time like 2025-07-19T10:16:03Z: ${String(text)}`);
  return ms / 1000;
}

interface Signed {
  tbs: Uint8Array; // the to-be-signed DER
  signature: Uint8Array; // r || s
  fields: Tlv[];
  der: Uint8Array;
}

function parseSigned(der: Uint8Array): Signed {
  const outer = tlv(der, 0, der.length);
  const parts = items(der, outer.start, outer.end);
  if (outer.tag !== 0x30 || parts.length !== 3 || parts[0].tag !== 0x30 || parts[2].tag !== 3) {
    throw new Error("not a signed X.509 structure");
  }
  const alg = items(der, parts[1].start, parts[1].end)[0];
  if (!alg || hexOf(content(der, alg)) !== ECDSA_SHA256_OID) throw new Error("not signed with ECDSA P-256 and SHA-256");
  const bits = content(der, parts[2]);
  return {
    tbs: whole(der, parts[0]),
    signature: compactSignature(bits.subarray(1)), // first byte: unused bits
    fields: items(der, parts[0].start, parts[0].end),
    der,
  };
}

export interface Cert extends Signed {
  serial: string;
  issuer: string; // hex of the Name's DER (compared, not shown)
  subject: string;
  subjectCn: string;
  notBefore: number;
  notAfter: number;
  key: Uint8Array; // uncompressed point, 65 bytes
  sgx: Tlv | null; // the Intel SGX extension's value (OCTET STRING content's element)
}

function commonName(der: Uint8Array, name: Tlv): string {
  for (const rdn of items(der, name.start, name.end)) {
    for (const atv of items(der, rdn.start, rdn.end)) {
      const [oid, value] = items(der, atv.start, atv.end);
      if (oid && value && hexOf(content(der, oid)) === "550403") return new TextDecoder().decode(content(der, value));
    }
  }
  return "";
}

export function parseCert(der: Uint8Array): Cert {
  const signed = parseSigned(der);
  let fields = signed.fields;
  if (fields[0]?.tag === 0xa0) fields = fields.slice(1);
  if (fields.length < 6) throw new Error("a certificate lacks fields");
  const [serial, , issuer, validity, subject, spki] = fields;
  const times = items(der, validity.start, validity.end);
  const keyParts = items(der, spki.start, spki.end);
  const point = content(der, keyParts[1]);
  if (point.length !== 66 || point[0] !== 0 || point[1] !== 4) throw new Error("the certificate's key is not an uncompressed P-256 point");
  let sgx: Tlv | null = null;
  for (const f of fields.slice(6)) {
    if (f.tag !== 0xa3) continue;
    const list = tlv(der, f.start, f.end);
    for (const ext of items(der, list.start, list.end)) {
      const parts = items(der, ext.start, ext.end);
      if (hexOf(content(der, parts[0])) === SGX_EXT_OID) sgx = parts[parts.length - 1];
    }
  }
  return {
    ...signed,
    serial: intHex(content(der, serial)),
    issuer: hexOf(whole(der, issuer)),
    subject: hexOf(whole(der, subject)),
    subjectCn: commonName(der, subject),
    notBefore: asn1Time(der, times[0]),
    notAfter: asn1Time(der, times[1]),
    key: point.slice(1),
    sgx,
  };
}

interface Crl extends Signed {
  issuer: string;
  thisUpdate: number;
  nextUpdate: number;
  revoked: Set<string>;
}

function parseCrl(der: Uint8Array): Crl {
  const signed = parseSigned(der);
  let fields = signed.fields;
  if (fields[0]?.tag === 2) fields = fields.slice(1);
  const [, issuer, thisUpdate] = fields;
  let rest = fields.slice(3);
  let nextUpdate: number | null = null;
  if (rest[0] && (rest[0].tag === 0x17 || rest[0].tag === 0x18)) {
    nextUpdate = asn1Time(der, rest[0]);
    rest = rest.slice(1);
  }
  const revoked = new Set<string>();
  if (rest[0]?.tag === 0x30) {
    for (const entry of items(der, rest[0].start, rest[0].end)) {
      revoked.add(intHex(content(der, tlv(der, entry.start, entry.end))));
    }
  }
  if (nextUpdate === null) throw new Error("a CRL without nextUpdate");
  return { ...signed, issuer: hexOf(whole(der, issuer)), thisUpdate: asn1Time(der, thisUpdate), nextUpdate, revoked };
}

export function pemCerts(text: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const block of text.split("-----BEGIN CERTIFICATE-----").slice(1)) {
    const body = block.split("-----END CERTIFICATE-----")[0].replace(/\s+/g, "");
    out.push(Uint8Array.from(atob(body), (c) => c.charCodeAt(0)));
  }
  return out;
}

interface SgxTcb {
  fmspc: string;
  pcesvn: number;
  cpusvn: number[];
}

/** FMSPC, PCESVN and the 16 CPUSVN components of a PCK certificate's SGX extension. */
function sgxExtension(cert: Cert): SgxTcb {
  if (!cert.sgx) throw new Error("the PCK certificate has no Intel SGX extension");
  const der = cert.der;
  const seq = tlv(der, cert.sgx.start, cert.sgx.end);
  let fmspc: string | null = null;
  let pcesvn: number | null = null;
  const cpusvn = new Array<number>(16).fill(0);
  const number = (t: Tlv) => content(der, t).reduce((v, b) => v * 256 + b, 0);
  for (const entry of items(der, seq.start, seq.end)) {
    const parts = items(der, entry.start, entry.end);
    const oid = hexOf(content(der, parts[0]));
    if (oid === SGX_EXT_OID + "04") fmspc = hexOf(content(der, parts[1]));
    else if (oid === SGX_EXT_OID + "02") {
      for (const tcb of items(der, parts[1].start, parts[1].end)) {
        const sub = items(der, tcb.start, tcb.end);
        const subOid = hexOf(content(der, sub[0]));
        if (subOid.length === SGX_EXT_OID.length + 4 && subOid.startsWith(SGX_EXT_OID + "02")) {
          const n = parseInt(subOid.slice(-2), 16);
          if (n >= 1 && n <= 16) cpusvn[n - 1] = number(sub[1]);
          else if (n === 17) pcesvn = number(sub[1]);
        }
      }
    }
  }
  if (fmspc === null || pcesvn === null) throw new Error("the PCK certificate's SGX extension lacks FMSPC or PCESVN");
  return { fmspc, pcesvn, cpusvn };
}

function p256Verify(signature: Uint8Array, message: Uint8Array, key: Uint8Array): boolean {
  try {
    const point = key.length === 64 ? Uint8Array.of(4, ...key) : key;
    return p256.verify(signature, sha256(message), point, { prehash: false, lowS: false });
  } catch {
    return false;
  }
}

// --- the quote ---------------------------------------------------------------------------------

interface Quote {
  version: number;
  signed: Uint8Array; // header and body: what the attestation key signs
  body: Uint8Array; // the TD report
  signature: Uint8Array;
  attestationKey: Uint8Array;
  qeReport: Uint8Array;
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  pckChainPem: string;
}

function parseQuote(quote: Uint8Array): Quote {
  const view = new DataView(quote.buffer, quote.byteOffset, quote.byteLength);
  if (quote.length < 48 + 6) throw new Error(`a quote of ${quote.length} bytes is too short`);
  const version = view.getUint16(0, true);
  if (view.getUint32(4, true) !== TDX_TEE_TYPE) throw new Error(`not a TDX quote (TEE type 0x${view.getUint32(4, true).toString(16)})`);
  if (view.getUint16(2, true) !== 2) throw new Error("the quote is not signed with ECDSA P-256 (attestation key type 2)");
  let bodyStart = 48;
  let bodySize = 584;
  if (version === 5) {
    bodySize = view.getUint32(50, true);
    bodyStart = 54;
    if (bodySize !== 584 && bodySize !== 648) throw new Error(`a v5 quote body of ${bodySize} bytes is not a TD report`);
  } else if (version !== 4) throw new Error(`quote version ${version} is not 4 or 5`);
  const bodyEnd = bodyStart + bodySize;
  if (bodyEnd + 4 > quote.length) throw new Error("the quote is truncated");
  const sigLen = view.getUint32(bodyEnd, true);
  const sd = quote.subarray(bodyEnd + 4, bodyEnd + 4 + sigLen);
  if (sd.length !== sigLen || sigLen < 584) throw new Error("the quote's signature data is truncated");
  const sdView = new DataView(sd.buffer, sd.byteOffset, sd.byteLength);
  if (sdView.getUint16(128, true) !== 6) throw new Error("the quote's certification data must be type 6 (QE report certification data)");
  const authLen = sdView.getUint16(582, true);
  const pos = 584 + authLen;
  if (pos + 6 > sd.length || sdView.getUint16(pos, true) !== 5) {
    throw new Error("the QE certification data must carry the PCK certificate chain (type 5)");
  }
  const pemLen = sdView.getUint32(pos + 2, true);
  if (pos + 6 + pemLen > sd.length) throw new Error("the quote's PCK certificate chain is truncated");
  return {
    version,
    signed: quote.subarray(0, bodyEnd),
    body: quote.subarray(bodyStart, bodyEnd),
    signature: sd.subarray(0, 64),
    attestationKey: sd.subarray(64, 128),
    qeReport: sd.subarray(134, 518),
    qeReportSignature: sd.subarray(518, 582),
    qeAuthData: sd.subarray(584, pos),
    pckChainPem: new TextDecoder().decode(sd.subarray(pos + 6, pos + 6 + pemLen)),
  };
}

export interface TdReport extends Measurements {
  version: number;
}

/** A TDX quote's measurements, as read (not yet verified: verifyQuote does that). */
export function parseTdReport(quote: Uint8Array): TdReport {
  const parsed = parseQuote(quote);
  return { version: parsed.version, ...measurementsOf(parsed.body) };
}

function measurementsOf(body: Uint8Array): Measurements {
  // TD report: TEE_TCB_SVN 16, MRSEAM 48, MRSIGNERSEAM 48, SEAMATTRIBUTES 8, TDATTRIBUTES 8,
  // XFAM 8, then MRTD at 136, MRCONFIGID, MROWNER, MROWNERCONFIG, RTMR0-3 at 328, REPORTDATA.
  const field = (offset: number, size: number) => hexOf(body.subarray(offset, offset + size));
  return {
    mrtd: field(136, 48), rtmr0: field(328, 48), rtmr1: field(376, 48), rtmr2: field(424, 48), rtmr3: field(472, 48),
    report_data: field(520, 64),
  };
}

// --- TCB evaluation ----------------------------------------------------------------------------

interface Level {
  tcbStatus: string;
  tcbDate?: string;
  advisoryIDs?: string[];
  tcb: any;
}

function maskedEqual(value: Uint8Array, expectedHex: string, maskHex: string, name: string): boolean {
  const expected = unhex(expectedHex, name);
  const mask = unhex(maskHex, `${name} mask`);
  if (value.length !== expected.length || mask.length !== expected.length) throw new Error(`${name} has the wrong length in the collateral`);
  return expected.every((e, i) => (value[i] & mask[i]) === (e & mask[i]));
}

function svnLevel(levels: Level[], svn: number, name: string): Level {
  const found = levels.find((level) => svn >= level.tcb.isvsvn);
  if (!found) throw new Error(`${name} SVN ${svn} is below every TCB level of the collateral (TCB status Unknown)`);
  return found;
}

/** The first TCB level the platform (PCK certificate and TD report) meets: Intel's order. */
function platformLevel(levels: Level[], sgx: SgxTcb, teeTcbSvn: Uint8Array): Level {
  const start = teeTcbSvn[1] > 0 ? 2 : 0; // TDX 1.5+: the module's own SVN is checked apart
  for (const level of levels) {
    const tcb = level.tcb;
    if (sgx.pcesvn < tcb.pcesvn) continue;
    if (sgx.cpusvn.some((svn, i) => svn < tcb.sgxtcbcomponents[i].svn)) continue;
    if ([...teeTcbSvn].some((svn, i) => i >= start && svn < tcb.tdxtcbcomponents[i].svn)) continue;
    return level;
  }
  throw new Error("the platform's TCB is below every TCB level of the collateral (TCB status Unknown)");
}

const SEVERITY = ["UpToDate", "SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded",
  "OutOfDate", "OutOfDateConfigurationNeeded", "Revoked"];

// --- the verification --------------------------------------------------------------------------

const COLLATERAL_FIELDS = ["pck_crl_issuer_chain", "root_ca_crl", "pck_crl", "tcb_info_issuer_chain", "tcb_info",
  "tcb_info_signature", "qe_identity_issuer_chain", "qe_identity", "qe_identity_signature"] as const;

/** Verifies a TDX quote against its collateral (dcap-qvl's QuoteCollateralV3 JSON) at
 * ``atUnix``. Every check is run that its inputs allow, so the verdict lists each failure. */
export function verifyQuote(quote: Uint8Array, collateral: string | Record<string, unknown>, atUnix: number,
  options: VerifyOptions = {}): DcapVerdict {  // prettier-ignore
  const checks: Check[] = [];
  const verdict: DcapVerdict = {
    ok: false, tcb_status: null, qe_tcb_status: null, tdx_module_tcb_status: null, advisory_ids: [], fmspc: null,
    measurements: null, checks, reasons: [], verified_at: atUnix, collateral_expires_at: null,
  };
  const run = (id: string, label: string, step: () => string): boolean => {
    try {
      checks.push({ id, label, ok: true, detail: step() });
      return true;
    } catch (error) {
      checks.push({ id, label, ok: false, detail: (error as Error).message });
      return false;
    }
  };
  const finish = () => {
    verdict.reasons = checks.filter((c) => !c.ok).map((c) => c.detail);
    verdict.ok = checks.length > 0 && verdict.reasons.length === 0;
    return verdict;
  };
  const when = (time: number) => new Date(time * 1000).toISOString().replace(".000Z", "Z");
  const at = when(atUnix);

  // 1. What the quote and the collateral hold.
  let q!: Quote;
  let c!: Record<string, string>;
  let pckChain!: Cert[];
  const parsed = run("quote", "the quote is a TDX quote signed with ECDSA P-256", () => {
    q = parseQuote(quote);
    verdict.measurements = measurementsOf(q.body);
    return `version ${q.version}, ${quote.length} bytes`;
  });
  const readable = run("collateral", "the collateral is Intel's (dcap-qvl's JSON)", () => {
    const value = typeof collateral === "string" ? JSON.parse(collateral) : collateral;
    if (!value || typeof value !== "object") throw new Error("the collateral is not a JSON object");
    for (const name of COLLATERAL_FIELDS) {
      if (typeof value[name] !== "string") throw new Error(`the collateral lacks ${name} (a string, as dcap-qvl's JSON writes it)`);
    }
    c = value;
    return `TCB info and QE identity with their signing chains and CRLs`;
  });
  if (!parsed || !readable) return finish();

  // 2. The certificate chains, up to Intel's root.
  const rootHash = options.rootCaDer ? hexOf(sha256(options.rootCaDer)) : INTEL_ROOT_SHA256;
  const chain = (pem: string, name: string, count: number): Cert[] => {
    const ders = pemCerts(pem);
    if (ders.length !== count) throw new Error(`${name} must hold ${count} PEM certificates, not ${ders.length}`);
    if (hexOf(sha256(ders[ders.length - 1])) !== rootHash) {
      throw new Error(`${name} does not end in ${options.rootCaDer ? "the given root CA" : "Intel's SGX Root CA"} (SHA-256 ${rootHash})`);
    }
    const certs = ders.map((der) => parseCert(der));
    for (let i = 0; i < certs.length; i++) {
      const cert = certs[i];
      const issuer = certs[Math.min(i + 1, certs.length - 1)];
      const what = i === certs.length - 1 ? "the root CA" : `${name}'s ${cert.subjectCn || `certificate ${i}`}`;
      if (cert.issuer !== issuer.subject) throw new Error(`${what} is not issued by ${issuer.subjectCn}`);
      if (!p256Verify(cert.signature, cert.tbs, issuer.key)) throw new Error(`the signature of ${what} does not verify`);
      if (!(cert.notBefore <= atUnix && atUnix <= cert.notAfter)) {
        throw new Error(`${what} is not valid at ${at} (valid ${when(cert.notBefore)} to ${when(cert.notAfter)})`);
      }
    }
    return certs;
  };
  const pckOk = run("pck_chain", "the PCK certificate chain in the quote leads to Intel's SGX Root CA", () => {
    pckChain = chain(q.pckChainPem, "the quote's PCK chain", 3);
    return pckChain.map((cert) => cert.subjectCn).join(" ← ");
  });
  let tcbSigner: Cert | null = null;
  let crlCa: Cert | null = null;
  run("tcb_signing_chain", "the TCB info's and QE identity's signing chain leads to Intel's SGX Root CA", () => {
    const [signer] = chain(c.tcb_info_issuer_chain, "tcb_info_issuer_chain", 2);
    if (c.qe_identity_issuer_chain !== c.tcb_info_issuer_chain) {
      throw new Error("qe_identity_issuer_chain must be the TCB signing chain (as Intel issues it)");
    }
    tcbSigner = signer;
    return signer.subjectCn;
  });
  run("pck_crl_chain", "the PCK CRL's issuer chain leads to Intel's SGX Root CA", () => {
    const [platformCa] = chain(c.pck_crl_issuer_chain, "pck_crl_issuer_chain", 2);
    crlCa = platformCa;
    return platformCa.subjectCn;
  });

  // 3. Revocation: Intel's CRLs, signed and current; no certificate used here on them.
  const expiries: number[] = [];
  run("crls", "Intel's CRLs are signed, current, and revoke none of these certificates", () => {
    const rootDer = [q.pckChainPem, c.tcb_info_issuer_chain, c.pck_crl_issuer_chain]
      .map((pem) => pemCerts(pem).at(-1))
      .find((der) => der && hexOf(sha256(der)) === rootHash);
    if (!rootDer) throw new Error("the CRLs cannot be checked: no chain holds the root CA");
    const root = parseCert(rootDer);
    const rootCrl = parseCrl(unhex(c.root_ca_crl, "root_ca_crl"));
    const pckCrl = parseCrl(unhex(c.pck_crl, "pck_crl"));
    if (rootCrl.issuer !== root.subject) throw new Error("root_ca_crl is not issued by the root CA");
    if (!p256Verify(rootCrl.signature, rootCrl.tbs, root.key)) throw new Error("the signature of root_ca_crl does not verify");
    if (!crlCa) throw new Error("pck_crl cannot be checked: pck_crl_issuer_chain is not verified");
    if (pckCrl.issuer !== crlCa.subject) throw new Error("pck_crl is not issued by the PCK CA of pck_crl_issuer_chain");
    if (!p256Verify(pckCrl.signature, pckCrl.tbs, crlCa.key)) throw new Error("the signature of pck_crl does not verify");
    for (const [crl, name] of [[rootCrl, "root_ca_crl"], [pckCrl, "pck_crl"]] as const) {
      if (!(crl.thisUpdate <= atUnix && atUnix <= crl.nextUpdate)) {
        throw new Error(`${name} is not current at ${at} (${when(crl.thisUpdate)} to ${when(crl.nextUpdate)}): fetch fresh collateral`);
      }
      expiries.push(crl.nextUpdate);
    }
    const checked = [root, ...(pckOk ? [pckChain[1]] : []), crlCa, ...(tcbSigner ? [tcbSigner] : [])];
    for (const cert of checked) {
      if (rootCrl.revoked.has(cert.serial)) throw new Error(`${cert.subjectCn} (serial ${cert.serial}) is revoked by Intel's root CA CRL`);
    }
    if (pckOk) {
      if (hexOf(sha256(pckChain[1].der)) !== hexOf(sha256(crlCa.der))) {
        throw new Error("the quote's PCK CA is not the one pck_crl_issuer_chain holds (its CRL does not cover the PCK certificate)");
      }
      if (pckCrl.revoked.has(pckChain[0].serial)) {
        throw new Error(`the PCK certificate (serial ${pckChain[0].serial}) is revoked by Intel's PCK CRL`);
      }
    }
    return `${rootCrl.revoked.size} revoked by the root CA, ${pckCrl.revoked.size} by the PCK CA; none of these`;
  });

  // 4. The quoting enclave vouches for the attestation key, which signs the TD report.
  if (pckOk) {
    run("qe_report_signature", "the QE report is signed by the PCK certificate's key", () => {
      if (!p256Verify(q.qeReportSignature, q.qeReport, pckChain[0].key)) {
        throw new Error("the signature of the QE report does not verify with the PCK certificate's key");
      }
      return "signed by the PCK key";
    });
  }
  run("qe_report_binds_key", "the QE report's report_data is SHA-256(attestation key ‖ QE auth data)", () => {
    const expected = sha256(Uint8Array.of(...q.attestationKey, ...q.qeAuthData));
    if (!equal(expected, q.qeReport.subarray(320, 352))) {
      throw new Error("the QE report does not vouch for the quote's attestation key (hash mismatch)");
    }
    return "the attestation key is the QE's";
  });
  run("quote_signature", "the quote (header and TD report) is signed by the attestation key", () => {
    if (!p256Verify(q.signature, q.signed, q.attestationKey)) {
      throw new Error("the quote's signature does not verify with its attestation key: the quote was altered");
    }
    return "header and TD report signed";
  });

  // 5. Intel's TCB info and QE identity: signed by the TCB signing key, current, for this platform.
  let tcbInfo: any = null;
  let qeIdentity: any = null;
  run("tcb_info", "the TCB info is signed by Intel, current, and for this platform (FMSPC)", () => {
    if (!tcbSigner) throw new Error("the TCB info cannot be checked: tcb_info_issuer_chain is not verified");
    if (!p256Verify(unhex(c.tcb_info_signature, "tcb_info_signature", 64), new TextEncoder().encode(c.tcb_info), tcbSigner.key)) {
      throw new Error("the signature of the TCB info does not verify with Intel's TCB signing key");
    }
    const info = JSON.parse(c.tcb_info);
    if (info.id !== "TDX" || info.version !== 3) throw new Error("tcb_info must be Intel's TDX TCB info, version 3");
    const issued = isoTime(info.issueDate, "tcb_info issueDate");
    const until = isoTime(info.nextUpdate, "tcb_info nextUpdate");
    if (!(issued <= atUnix && atUnix <= until)) {
      throw new Error(`the TCB info is not current at ${at} (${info.issueDate} to ${info.nextUpdate}): fetch fresh collateral`);
    }
    expiries.push(until);
    if (!pckOk) throw new Error("the platform's FMSPC cannot be read: the PCK chain is not verified");
    const sgx = sgxExtension(pckChain[0]);
    verdict.fmspc = sgx.fmspc;
    if (String(info.fmspc).toLowerCase() !== sgx.fmspc) {
      throw new Error(`the TCB info is for FMSPC ${String(info.fmspc).toLowerCase()}, not this platform's ${sgx.fmspc}`);
    }
    tcbInfo = info;
    return `FMSPC ${sgx.fmspc}, TCB evaluation ${info.tcbEvaluationDataNumber}, until ${info.nextUpdate}`;
  });
  run("qe_identity", "the quoting enclave is Intel's TD QE (signed QE identity, current)", () => {
    if (!tcbSigner) throw new Error("the QE identity cannot be checked: qe_identity_issuer_chain is not verified");
    if (!p256Verify(unhex(c.qe_identity_signature, "qe_identity_signature", 64), new TextEncoder().encode(c.qe_identity), tcbSigner.key)) {
      throw new Error("the signature of the QE identity does not verify with Intel's TCB signing key");
    }
    const qe = JSON.parse(c.qe_identity);
    if (qe.id !== "TD_QE" || qe.version !== 2) throw new Error("qe_identity must be Intel's TD_QE identity, version 2");
    const issued = isoTime(qe.issueDate, "qe_identity issueDate");
    const until = isoTime(qe.nextUpdate, "qe_identity nextUpdate");
    if (!(issued <= atUnix && atUnix <= until)) {
      throw new Error(`the QE identity is not current at ${at} (${qe.issueDate} to ${qe.nextUpdate}): fetch fresh collateral`);
    }
    expiries.push(until);
    const report = q.qeReport;
    if (!equal(report.subarray(128, 160), unhex(qe.mrsigner, "qe mrsigner"))) {
      throw new Error("the QE report is not from Intel's TD quoting enclave (MRSIGNER differs)");
    }
    if ((report[256] | (report[257] << 8)) !== qe.isvprodid) throw new Error("the QE report's ISVPRODID is not the TD QE's");
    if (!maskedEqual(report.subarray(16, 20), qe.miscselect, qe.miscselectMask, "miscselect")) {
      throw new Error("the QE report's MISCSELECT does not match the QE identity");
    }
    if (!maskedEqual(report.subarray(48, 64), qe.attributes, qe.attributesMask, "attributes")) {
      throw new Error("the QE report's attributes do not match the QE identity");
    }
    qeIdentity = qe;
    return `MRSIGNER ${qe.mrsigner.toLowerCase().slice(0, 16)}…, ISVPRODID ${qe.isvprodid}`;
  });

  // 6. The TCB status: the platform's level, the QE's and the TDX module's.
  const advisories = new Set<string>();
  const statuses: string[] = [];
  if (tcbInfo) {
    run("tcb_level", "the platform's TCB level (PCK certificate's SVNs and the TD report's TEE_TCB_SVN)", () => {
      const level = platformLevel(tcbInfo.tcbLevels, sgxExtension(pckChain[0]), q.body.subarray(0, 16));
      verdict.tcb_status = level.tcbStatus;
      (level.advisoryIDs ?? []).forEach((id) => advisories.add(id));
      statuses.push(level.tcbStatus);
      return `${level.tcbStatus} (TCB level of ${level.tcbDate ?? "an unknown date"})`;
    });
    run("tdx_module", "the TDX module is Intel's, at a known TCB level", () => {
      const body = q.body;
      const module = tcbInfo.tdxModule;
      if (!maskedEqual(body.subarray(64, 112), module.mrsigner, "ff".repeat(48), "the TDX module's signer")) {
        throw new Error("the TDX module is not signed by Intel (MRSIGNERSEAM differs)");
      }
      if (!maskedEqual(body.subarray(112, 120), module.attributes, module.attributesMask, "SEAM attributes")) {
        throw new Error("the TDX module's attributes do not match the TCB info");
      }
      let status = "UpToDate";
      let name = "TDX 1.0 module";
      const teeTcbSvn = body.subarray(0, 16);
      if (teeTcbSvn[1] > 0) {
        name = `TDX_${teeTcbSvn[1].toString(16).padStart(2, "0").toUpperCase()}`;
        const identity = (tcbInfo.tdxModuleIdentities ?? []).find((m: any) => m.id === name);
        if (!identity) throw new Error(`the TCB info has no identity for TDX module ${name}`);
        const level = svnLevel(identity.tcbLevels, teeTcbSvn[0], `the TDX module's (${name})`);
        status = level.tcbStatus;
        (level.advisoryIDs ?? []).forEach((id) => advisories.add(id));
      }
      verdict.tdx_module_tcb_status = status;
      statuses.push(status);
      return `${name}: ${status}`;
    });
  }
  if (qeIdentity) {
    run("qe_tcb_level", "the quoting enclave's TCB level (its ISV SVN)", () => {
      const svn = q.qeReport[258] | (q.qeReport[259] << 8);
      const level = svnLevel(qeIdentity.tcbLevels, svn, "the QE's");
      verdict.qe_tcb_status = level.tcbStatus;
      (level.advisoryIDs ?? []).forEach((id) => advisories.add(id));
      statuses.push(level.tcbStatus);
      return `ISV SVN ${svn}: ${level.tcbStatus}`;
    });
  }
  verdict.advisory_ids = [...advisories].sort();
  if (expiries.length) verdict.collateral_expires_at = Math.min(...expiries);

  // 7. The TD itself, and whether the TCB status is one to accept.
  run("td_attributes", "the TD runs without debug and with SEPT_VE_DISABLE", () => {
    const attributes = q.body.subarray(120, 128);
    if (attributes[0] & 1) throw new Error("the TD runs in debug mode: its memory is readable by the host");
    if (!(attributes[3] & 0x10)) throw new Error("the TD does not set SEPT_VE_DISABLE");
    if (q.body.length === 648 && q.body.subarray(600, 648).some((b) => b !== 0)) throw new Error("the TD report names a service TD (MRSERVICETD)");
    return `TD attributes ${hexOf(attributes)}`;
  });
  if (statuses.length) {
    const accepted = options.acceptedTcb ?? ACCEPTED_TCB;
    run("tcb_status", `the TCB status is accepted (${accepted.join(", ")})`, () => {
      const worst = statuses.reduce((a, b) => (SEVERITY.indexOf(b) > SEVERITY.indexOf(a) ? b : a));
      if (statuses.some((s) => !accepted.includes(s))) {
        const ids = verdict.advisory_ids.length ? ` (advisories ${verdict.advisory_ids.join(", ")})` : "";
        throw new Error(`the TCB status is ${worst}${ids}, not ${accepted.join(" or ")}: the platform must be patched`);
      }
      return worst;
    });
  }
  return finish();
}
