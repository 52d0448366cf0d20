import { AttestationError } from '../errors.js';

/*
 * Intel DCAP quote v4/v5 with a TDX body (tee-evidence.md §2.1–2.4). Parsing follows the declared
 * lengths only; bytes after the signature data are ignored (real quotes carry padding or text).
 * Every field is a view into the caller's buffer: nothing is copied or re-encoded, so the signed
 * region is exactly the bytes received.
 */

export const HEADER_SIZE = 48;
export const TDX10_BODY_SIZE = 584;
export const TDX15_BODY_SIZE = 648;
export const QE_REPORT_SIZE = 384;
export const TEE_TYPE_TDX = 0x81;
export const ATT_KEY_TYPE_ECDSA_P256 = 2;
export const CERT_TYPE_QE_REPORT = 6;
export const CERT_TYPE_PCK_CHAIN = 5;

export interface QuoteHeader {
  version: number;
  attKeyType: number;
  teeType: number;
  /** The 4 bytes at 0x08 (QE_SVN/PCE_SVN in v3, reserved in v4/v5). */
  reserved: Uint8Array;
  qeVendorId: Uint8Array;
  userData: Uint8Array;
  raw: Uint8Array;
}

export interface TdReportBody {
  teeTcbSvn: Uint8Array;
  mrSeam: Uint8Array;
  mrSignerSeam: Uint8Array;
  seamAttributes: Uint8Array;
  tdAttributes: Uint8Array;
  xfam: Uint8Array;
  mrTd: Uint8Array;
  mrConfigId: Uint8Array;
  mrOwner: Uint8Array;
  mrOwnerConfig: Uint8Array;
  rtmr: [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  reportData: Uint8Array;
  /** TDX 1.5 bodies only. */
  teeTcbSvn2?: Uint8Array;
  mrServiceTd?: Uint8Array;
}

/** SGX report body of the quoting enclave (§2.4). */
export interface QeReport {
  raw: Uint8Array;
  cpuSvn: Uint8Array;
  miscSelect: number;
  attributes: Uint8Array;
  mrEnclave: Uint8Array;
  mrSigner: Uint8Array;
  isvProdId: number;
  isvSvn: number;
  reportData: Uint8Array;
}

export interface TdxQuote {
  header: QuoteHeader;
  /** v5 body descriptor: 2 = TDX 1.0, 3 = TDX 1.5. v4 quotes have an implied type 2. */
  bodyType: 2 | 3;
  /** v5 only: the raw 6-byte descriptor (type u16, size u32) as it appears in the quote. */
  bodyDescriptor?: { type: Uint8Array; size: Uint8Array };
  body: TdReportBody;
  /** Bytes covered by the quote signature. */
  signedRegion: Uint8Array;
  /** ECDSA P-256 r ‖ s, big-endian. */
  signature: Uint8Array;
  /** Raw x ‖ y of the attestation key. */
  attestationKey: Uint8Array;
  qeReport: QeReport;
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  /** PEM text of the PCK chain (leaf, intermediate, root). */
  pckChainPem: string;
  /** Offset just past the signature data; anything after it is ignored. */
  end: number;
}

function malformed(detail: string): AttestationError {
  return new AttestationError('EVIDENCE_MALFORMED', `TDX quote: ${detail}`);
}

class Reader {
  constructor(
    readonly buf: Uint8Array,
    public pos: number,
    readonly limit: number,
    readonly what: string,
  ) {}

  take(n: number, field: string): Uint8Array {
    if (n < 0 || this.pos + n > this.limit) {
      throw malformed(
        `${field} runs past the end of the ${this.what} (need ${n} bytes at offset ${this.pos})`,
      );
    }
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  u16(field: string): number {
    const b = this.take(2, field);
    return b[0] | (b[1] << 8);
  }

  u32(field: string): number {
    const b = this.take(4, field);
    return (b[0] | (b[1] << 8) | (b[2] << 16)) + b[3] * 0x1000000;
  }
}

function u16le(b: Uint8Array, off: number): number {
  return b[off] | (b[off + 1] << 8);
}

function parseBody(b: Uint8Array, tdx15: boolean): TdReportBody {
  const at = (off: number, len: number) => b.subarray(off, off + len);
  const body: TdReportBody = {
    teeTcbSvn: at(0x000, 16),
    mrSeam: at(0x010, 48),
    mrSignerSeam: at(0x040, 48),
    seamAttributes: at(0x070, 8),
    tdAttributes: at(0x078, 8),
    xfam: at(0x080, 8),
    mrTd: at(0x088, 48),
    mrConfigId: at(0x0b8, 48),
    mrOwner: at(0x0e8, 48),
    mrOwnerConfig: at(0x118, 48),
    rtmr: [at(0x148, 48), at(0x178, 48), at(0x1a8, 48), at(0x1d8, 48)],
    reportData: at(0x208, 64),
  };
  if (tdx15) {
    body.teeTcbSvn2 = at(0x248, 16);
    body.mrServiceTd = at(0x258, 48);
  }
  return body;
}

export function parseQeReport(raw: Uint8Array): QeReport {
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  return {
    raw,
    cpuSvn: raw.subarray(0, 16),
    miscSelect: v.getUint32(16, true),
    attributes: raw.subarray(48, 64),
    mrEnclave: raw.subarray(64, 96),
    mrSigner: raw.subarray(128, 160),
    isvProdId: v.getUint16(256, true),
    isvSvn: v.getUint16(258, true),
    reportData: raw.subarray(320, 384),
  };
}

/** Parses a TDX quote (v4 or v5). Throws EVIDENCE_MALFORMED or VERSION_NOT_ALLOWED. */
export function parseQuote(quote: Uint8Array): TdxQuote {
  if (quote.length < HEADER_SIZE) throw malformed(`${quote.length} bytes is shorter than a quote header`);
  const version = u16le(quote, 0);
  if (version !== 4 && version !== 5) {
    throw new AttestationError(
      'VERSION_NOT_ALLOWED',
      `TDX quote: version ${version} is not supported (4 or 5 expected${version === 3 ? '; version 3 is an SGX quote' : ''})`,
    );
  }
  const r = new Reader(quote, 0, quote.length, 'quote');
  const hdr = r.take(HEADER_SIZE, 'header');
  const header: QuoteHeader = {
    version,
    attKeyType: u16le(hdr, 2),
    teeType: u16le(hdr, 4) + u16le(hdr, 6) * 0x10000,
    reserved: hdr.subarray(8, 12),
    qeVendorId: hdr.subarray(12, 28),
    userData: hdr.subarray(28, 48),
    raw: hdr,
  };
  if (header.teeType !== TEE_TYPE_TDX) {
    throw new AttestationError(
      'TEE_UNSUPPORTED',
      `TDX quote: TEE type 0x${header.teeType.toString(16)} is not TDX (0x81)`,
    );
  }
  if (header.attKeyType !== ATT_KEY_TYPE_ECDSA_P256) {
    throw malformed(`attestation key type ${header.attKeyType} is not ECDSA-256 with P-256 (2)`);
  }

  let bodyType: 2 | 3 = 2;
  let bodyDescriptor: TdxQuote['bodyDescriptor'];
  let bodyBytes: Uint8Array;
  if (version === 4) {
    bodyBytes = r.take(TDX10_BODY_SIZE, 'TD report body');
  } else {
    const type = r.take(2, 'body type');
    const size = r.take(4, 'body size');
    const t = u16le(type, 0);
    const n = u16le(size, 0) + u16le(size, 2) * 0x10000;
    if (t === 2 && n === TDX10_BODY_SIZE) bodyType = 2;
    else if (t === 3 && n === TDX15_BODY_SIZE) bodyType = 3;
    else throw malformed(`v5 body type ${t} with size ${n} is not a TDX 1.0 (2, 584) or 1.5 (3, 648) body`);
    bodyDescriptor = { type, size };
    bodyBytes = r.take(n, 'TD report body');
  }
  const signedRegion = quote.subarray(0, r.pos);
  const sigDataLen = r.u32('signature data length');
  const s = new Reader(quote, r.pos, r.pos + sigDataLen, 'signature data');
  if (s.limit > quote.length) {
    throw malformed(
      `signature data length ${sigDataLen} runs past the end of the quote (${quote.length} bytes)`,
    );
  }
  const signature = s.take(64, 'quote signature');
  const attestationKey = s.take(64, 'attestation key');
  const certType = s.u16('certification data type');
  const certSize = s.u32('certification data size');
  if (certType !== CERT_TYPE_QE_REPORT) {
    throw malformed(`certification data type ${certType} is not 6 (QE report certification data)`);
  }
  const c = new Reader(quote, s.pos, s.pos + certSize, 'certification data');
  if (c.limit > s.limit) throw malformed('certification data runs past the signature data');
  const qeReportRaw = c.take(QE_REPORT_SIZE, 'QE report');
  const qeReportSignature = c.take(64, 'QE report signature');
  const authSize = c.u16('QE authentication data size');
  const qeAuthData = c.take(authSize, 'QE authentication data');
  const innerType = c.u16('inner certification data type');
  const innerSize = c.u32('inner certification data size');
  if (innerType !== CERT_TYPE_PCK_CHAIN) {
    throw malformed(`inner certification data type ${innerType} is not 5 (PCK certificate chain)`);
  }
  const pem = c.take(innerSize, 'PCK certificate chain');
  return {
    header,
    bodyType,
    bodyDescriptor,
    body: parseBody(bodyBytes, bodyType === 3),
    signedRegion,
    signature,
    attestationKey,
    qeReport: parseQeReport(qeReportRaw),
    qeReportSignature,
    qeAuthData,
    pckChainPem: Buffer.from(pem).toString('latin1'),
    end: s.limit,
  };
}
