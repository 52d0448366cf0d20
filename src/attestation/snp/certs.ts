import { createHash, type KeyObject, X509Certificate } from 'node:crypto';
import { Lru } from '../../common/lru.js';
import { AttestationError } from '../errors.js';
import { certExtension, pemBlocks } from '../x509.js';
import type { SnpProduct } from './report.js';

/*
 * AMD certificates as the SNP verifier needs them: parsed once and cached by the SHA-256 of their
 * DER (content-addressed, so sharing between verifiers is safe), with the AMD VEK extensions
 * (tee-evidence.md §1.5) decoded on first use. Issuer signatures are time-independent, so a
 * verified (child, issuer) pair is remembered too; validity periods are checked on every call.
 * Both caches are bounded because evidence can carry arbitrary certificates.
 */

export interface CertInfo {
  der: Buffer;
  /** Hex SHA-256 of the DER. */
  digest: string;
  cert: X509Certificate;
  publicKey: KeyObject;
  subjectCN: string;
  issuerCN: string;
  notBefore: Date;
  notAfter: Date;
}

export type VekKind = 'VCEK' | 'VLEK';

export interface VekSpl {
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
  /** Turin only. */
  fmc?: number;
}

export interface AmdVekInfo {
  kind: VekKind;
  structVersion?: number;
  /** As issued: `Milan-B0`, `Genoa`, `Milan` (VLEK), `Turin`. */
  productName?: string;
  /** The product family named by productName, when recognised. */
  product?: SnpProduct;
  spl: VekSpl;
  /** 64 bytes (Milan/Genoa) or 8 bytes (Turin); absent in a VLEK. */
  hwId?: Uint8Array;
  cspId?: string;
}

const AMD_ARC = '1.3.6.1.4.1.3704.1';
const OID = {
  structVersion: `${AMD_ARC}.1`,
  productName: `${AMD_ARC}.2`,
  blSPL: `${AMD_ARC}.3.1`,
  teeSPL: `${AMD_ARC}.3.2`,
  snpSPL: `${AMD_ARC}.3.3`,
  ucodeSPL: `${AMD_ARC}.3.8`,
  fmcSPL: `${AMD_ARC}.3.9`,
  hwID: `${AMD_ARC}.4`,
  cspId: `${AMD_ARC}.5`,
};

const certCache = new Lru<CertInfo>(512);
const vekCache = new Lru<AmdVekInfo>(512);
const issuedCache = new Lru<true>(1024);

/** Drops every cached certificate and verified pair (tests, benchmarks). */
export function clearCertCaches(): void {
  certCache.clear();
  vekCache.clear();
  issuedCache.clear();
}

function commonName(dn: string): string {
  return /(?:^|\n)CN=([^\n]*)/.exec(dn)?.[1] ?? '';
}

/** Parses (or returns the cached) certificate for DER bytes. */
export function certFromDer(der: Uint8Array, what: string): CertInfo {
  const buf = Buffer.from(der.buffer, der.byteOffset, der.length);
  const digest = createHash('sha256').update(buf).digest('hex');
  const hit = certCache.get(digest);
  if (hit) return hit;
  let info: CertInfo;
  try {
    const cert = new X509Certificate(buf);
    info = {
      der: Buffer.from(buf),
      digest,
      cert,
      publicKey: cert.publicKey, // throws for a key OpenSSL cannot load (e.g. a point off the curve)
      subjectCN: commonName(cert.subject),
      issuerCN: commonName(cert.issuer),
      notBefore: new Date(cert.validFrom),
      notAfter: new Date(cert.validTo),
    };
  } catch (e) {
    throw new AttestationError('CHAIN_INVALID', `${what}: not a usable DER X.509 certificate`, { cause: e });
  }
  if (Number.isNaN(info.notBefore.getTime()) || Number.isNaN(info.notAfter.getTime())) {
    throw new AttestationError('CHAIN_INVALID', `${what}: unreadable validity period`);
  }
  certCache.set(digest, info);
  return info;
}

/** A certificate given as DER or PEM (the first PEM block). */
export function certFromBytes(data: Uint8Array, what: string): CertInfo {
  const head = Buffer.from(data.buffer, data.byteOffset, Math.min(data.length, 64)).toString('latin1');
  if (head.includes('-----BEGIN')) {
    const blocks = pemBlocks(Buffer.from(data).toString('latin1'));
    if (blocks.length === 0)
      throw new AttestationError('CHAIN_INVALID', `${what}: PEM without a certificate`);
    return certFromDer(blocks[0], what);
  }
  return certFromDer(data, what);
}

/** True when `issuer` issued and signed `child`; positive answers are cached. */
export function issuedBy(child: CertInfo, issuer: CertInfo): boolean {
  const key = `${child.digest}>${issuer.digest}`;
  if (issuedCache.get(key)) return true;
  const ok = child.cert.checkIssued(issuer.cert) && child.cert.verify(issuer.publicKey);
  if (ok) issuedCache.set(key, true);
  return ok;
}

/** Throws CERT_EXPIRED unless `now` lies within the certificate's validity period. */
export function checkValidity(c: CertInfo, now: Date, what: string): void {
  if (now < c.notBefore || now > c.notAfter) {
    throw new AttestationError(
      'CERT_EXPIRED',
      `${what} (CN=${c.subjectCN}) is not valid at ${now.toISOString()}: valid ${c.notBefore.toISOString()} to ${c.notAfter.toISOString()}`,
    );
  }
}

// --- minimal DER reading for the AMD extension values --------------------------------------------

function tlv(buf: Uint8Array, what: string): { tag: number; content: Uint8Array } {
  const bad = () => new AttestationError('CHAIN_INVALID', `VEK extension ${what} is not valid DER`);
  if (buf.length < 2) throw bad();
  let len = buf[1];
  let start = 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || buf.length < 2 + n) throw bad();
    len = 0;
    for (let i = 0; i < n; i++) len = (len << 8) | buf[2 + i];
    start = 2 + n;
  }
  if (start + len !== buf.length) throw bad();
  return { tag: buf[0], content: buf.subarray(start) };
}

function derUint(buf: Uint8Array, what: string): number {
  const { tag, content } = tlv(buf, what);
  if (tag !== 0x02 || content.length === 0 || content.length > 4 || content[0] & 0x80) {
    throw new AttestationError('CHAIN_INVALID', `VEK extension ${what} is not a non-negative INTEGER`);
  }
  let v = 0;
  for (const b of content) v = v * 256 + b;
  return v;
}

function derIa5(buf: Uint8Array, what: string): string {
  const { tag, content } = tlv(buf, what);
  if (tag !== 0x16) throw new AttestationError('CHAIN_INVALID', `VEK extension ${what} is not an IA5String`);
  return Buffer.from(content).toString('latin1');
}

/** hwID is issued as raw bytes; a nested OCTET STRING is accepted too (as Trustee does). */
function hwIdValue(buf: Uint8Array): Uint8Array {
  if (buf.length === 64 || buf.length === 8) return Uint8Array.from(buf);
  if (buf[0] === 0x04) {
    const { content } = tlv(buf, 'hwID');
    if (content.length === 64 || content.length === 8) return Uint8Array.from(content);
  }
  throw new AttestationError('CHAIN_INVALID', `VEK hwID has ${buf.length} bytes; expected 64 or 8`);
}

export function productFromName(name: string | undefined): SnpProduct | undefined {
  const family = name?.split('-')[0];
  return family === 'Milan' || family === 'Genoa' || family === 'Turin' ? family : undefined;
}

/** The VCEK/VLEK fields of a certificate (cached with it). */
export function amdVekInfo(c: CertInfo): AmdVekInfo {
  const hit = vekCache.get(c.digest);
  if (hit) return hit;
  let kind: VekKind;
  if (c.subjectCN === 'SEV-VCEK') kind = 'VCEK';
  else if (c.subjectCN === 'SEV-VLEK') kind = 'VLEK';
  else
    throw new AttestationError('CHAIN_INVALID', `certificate CN=${c.subjectCN} is neither a VCEK nor a VLEK`);
  const ext = (oid: string) => certExtension(c.cert, oid);
  const spl = (oid: string, name: string) => {
    const v = ext(oid);
    if (!v) throw new AttestationError('CHAIN_INVALID', `${kind} has no ${name} extension`);
    return derUint(v, name);
  };
  const structVersion = ext(OID.structVersion);
  const productName = ext(OID.productName);
  const fmc = ext(OID.fmcSPL);
  const hwId = ext(OID.hwID);
  const cspId = ext(OID.cspId);
  const pn = productName ? derIa5(productName, 'productName') : undefined;
  const info: AmdVekInfo = {
    kind,
    structVersion: structVersion ? derUint(structVersion, 'structVersion') : undefined,
    productName: pn,
    product: productFromName(pn),
    spl: {
      bootloader: spl(OID.blSPL, 'blSPL'),
      tee: spl(OID.teeSPL, 'teeSPL'),
      snp: spl(OID.snpSPL, 'snpSPL'),
      microcode: spl(OID.ucodeSPL, 'ucodeSPL'),
      fmc: fmc ? derUint(fmc, 'fmcSPL') : undefined,
    },
    hwId: hwId ? hwIdValue(hwId) : undefined,
    cspId: cspId ? derIa5(cspId, 'csp_id') : undefined,
  };
  vekCache.set(c.digest, info);
  return info;
}
