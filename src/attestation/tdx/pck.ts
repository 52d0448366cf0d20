import type { X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import { AttestationError } from '../errors.js';
import { certExtension } from '../x509.js';

/*
 * The Intel SGX extension of a PCK certificate (tee-evidence.md §2.5): OID 1.2.840.113741.1.13.1, a
 * SEQUENCE of (OID, value) pairs. Parsed by OID, not by position, so optional members (platform
 * instance, configuration) are found wherever they are.
 */

const SGX_EXT = '1.2.840.113741.1.13.1';
const PLATFORM_CA_CN = 'Intel SGX PCK Platform CA';
const PROCESSOR_CA_CN = 'Intel SGX PCK Processor CA';

export type PckCaType = 'platform' | 'processor';

export interface PckInfo {
  ppid: Uint8Array;
  /** SGX TCB components 1..16 (`.2.1`–`.2.16`). */
  sgxComponents: number[];
  pceSvn: number;
  cpuSvn: Uint8Array;
  pceId: Uint8Array;
  fmspc: Uint8Array;
  /** 0 Standard, 1 Scalable, 2 Scalable with integrity. */
  sgxType: number;
  platformInstanceId?: Uint8Array;
  dynamicPlatform?: boolean;
  cachedKeys?: boolean;
  smtEnabled?: boolean;
  caType: PckCaType;
}

function bad(detail: string): AttestationError {
  return new AttestationError('CHAIN_INVALID', `PCK certificate: ${detail}`);
}

function seq(node: asn1js.AsnType | undefined): asn1js.AsnType[] {
  if (!(node instanceof asn1js.Sequence)) return [];
  return node.valueBlock.value as asn1js.AsnType[];
}

/** (OID → value) for a SEQUENCE of SEQUENCE { OID, value }. */
function pairs(node: asn1js.AsnType | undefined): Map<string, asn1js.AsnType> {
  const out = new Map<string, asn1js.AsnType>();
  for (const item of seq(node)) {
    const [id, value] = seq(item);
    if (id instanceof asn1js.ObjectIdentifier && value) out.set(id.valueBlock.toString(), value);
  }
  return out;
}

function octets(node: asn1js.AsnType | undefined, name: string, len?: number): Uint8Array {
  if (!(node instanceof asn1js.OctetString)) throw bad(`${name} is missing`);
  const v = new Uint8Array(node.valueBlock.valueHexView);
  if (len !== undefined && v.length !== len) throw bad(`${name} is ${v.length} bytes, expected ${len}`);
  return v;
}

function integer(node: asn1js.AsnType | undefined, name: string, max: number): number {
  if (!(node instanceof asn1js.Integer || node instanceof asn1js.Enumerated)) throw bad(`${name} is missing`);
  const v = node.valueBlock.valueDec;
  if (!Number.isInteger(v) || v < 0 || v > max) throw bad(`${name} is out of range`);
  return v;
}

function bool(node: asn1js.AsnType | undefined): boolean | undefined {
  return node instanceof asn1js.Boolean ? node.valueBlock.value : undefined;
}

export function commonName(cert: X509Certificate): string {
  const m = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject);
  return m ? m[1] : '';
}

/** CA type from the intermediate's subject CN. */
export function pckCaType(intermediate: X509Certificate): PckCaType {
  const cn = commonName(intermediate);
  if (cn === PLATFORM_CA_CN) return 'platform';
  if (cn === PROCESSOR_CA_CN) return 'processor';
  throw bad(`intermediate CA "${cn}" is neither "${PLATFORM_CA_CN}" nor "${PROCESSOR_CA_CN}"`);
}

export function parsePckExtensions(leaf: X509Certificate, intermediate: X509Certificate): PckInfo {
  const caType = pckCaType(intermediate);
  const ext = certExtension(leaf, SGX_EXT);
  if (!ext) throw bad('the SGX extension (1.2.840.113741.1.13.1) is missing');
  const parsed = asn1js.fromBER(ext);
  if (parsed.offset === -1) throw bad('the SGX extension is not valid DER');
  const top = pairs(parsed.result);
  const p = (suffix: string) => top.get(`${SGX_EXT}.${suffix}`);

  const tcb = pairs(p('2'));
  const sgxComponents: number[] = [];
  for (let i = 1; i <= 16; i++)
    sgxComponents.push(integer(tcb.get(`${SGX_EXT}.2.${i}`), `SGX TCB component ${i}`, 255));
  const info: PckInfo = {
    ppid: octets(p('1'), 'PPID'),
    sgxComponents,
    pceSvn: integer(tcb.get(`${SGX_EXT}.2.17`), 'PCESVN', 0xffff),
    cpuSvn: octets(tcb.get(`${SGX_EXT}.2.18`), 'CPUSVN', 16),
    pceId: octets(p('3'), 'PCE-ID', 2),
    fmspc: octets(p('4'), 'FMSPC', 6),
    sgxType: integer(p('5'), 'SGX type', 2),
    caType,
  };
  if (p('6')) info.platformInstanceId = octets(p('6'), 'PlatformInstanceID', 16);
  const config = pairs(p('7'));
  if (config.size > 0) {
    info.dynamicPlatform = bool(config.get(`${SGX_EXT}.7.1`));
    info.cachedKeys = bool(config.get(`${SGX_EXT}.7.2`));
    info.smtEnabled = bool(config.get(`${SGX_EXT}.7.3`));
  }
  return info;
}
