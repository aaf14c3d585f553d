// A TDX quote's measurements, read in the browser (Intel's quote format, versions 4 and 5): what
// the Attestation page shows, and the report_data it checks against its own nonce. The quote's
// signature chain (Intel's certificates and collateral) is not verified here.
export interface TdReport {
  version: number;
  mrtd: string;
  rtmr0: string;
  rtmr1: string;
  rtmr2: string;
  rtmr3: string;
  report_data: string;
}

const TDX_TEE_TYPE = 0x81;
const HEADER_BYTES = 48;

function hexOf(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function parseTdReport(quote: Uint8Array): TdReport {
  if (quote.length < HEADER_BYTES + 6) throw new Error(`a quote of ${quote.length} bytes is too short`);
  const view = new DataView(quote.buffer, quote.byteOffset, quote.byteLength);
  const version = view.getUint16(0, true);
  const teeType = view.getUint32(4, true);
  if (teeType !== TDX_TEE_TYPE) throw new Error(`not a TDX quote (TEE type 0x${teeType.toString(16)})`);
  let body: number;
  if (version === 4) body = HEADER_BYTES;
  else if (version === 5) body = HEADER_BYTES + 6; // body type (u16) and size (u32) first
  else throw new Error(`quote version ${version} is not 4 or 5`);
  const field = (offset: number, size: number) => {
    if (body + offset + size > quote.length) throw new Error("the quote is truncated");
    return hexOf(quote.subarray(body + offset, body + offset + size));
  };
  // TD report: TEE_TCB_SVN 16, MRSEAM 48, MRSIGNERSEAM 48, SEAMATTRIBUTES 8, TDATTRIBUTES 8,
  // XFAM 8, then MRTD at 136, MRCONFIGID, MROWNER, MROWNERCONFIG, RTMR0-3 at 328, REPORTDATA.
  return {
    version,
    mrtd: field(136, 48),
    rtmr0: field(328, 48),
    rtmr1: field(376, 48),
    rtmr2: field(424, 48),
    rtmr3: field(472, 48),
    report_data: field(520, 64),
  };
}
