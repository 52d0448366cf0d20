import { AttestationError } from '../errors.js';
import {
  BYTE_FIELDS,
  decodeTcb,
  encodeTcb,
  type FirmwareVersion,
  OFFSET,
  REPORT_SIZE,
  readU32,
  readU64,
  reportLayout,
  SIG_COMPONENT_SIZE,
  type TcbLayout,
  type TcbVersion,
  writeU32,
  writeU64,
} from './report.js';

/*
 * The Trustee SNP evidence JSON (tee-evidence.md §1.7): `{attestation_report, cert_chain}` as serde
 * writes the `sev` crate's types. Byte arrays are arrays of numbers; TCB_VERSION is an object whose
 * byte layout depends on the product; reserved bytes are not carried and rebuild as zero (§1.7.1).
 */

export type CertTypeName = 'ARK' | 'ASK' | 'VCEK' | 'VLEK' | 'CRL' | 'Empty';
export type CertType = CertTypeName | { OTHER: string };

export interface CertChainEntry {
  certType: CertType;
  data: Uint8Array;
}

export interface ParsedSnpEvidence {
  /** The 1184-byte report, rebuilt from JSON or taken as given. */
  report: Uint8Array;
  /** `cert_chain` of the JSON form; null when absent/null or for a raw report. */
  certChain: CertChainEntry[] | null;
  form: 'json' | 'raw';
}

/** The JSON object a Trustee-compatible attester sends (key order as serde emits it). */
export interface SnpEvidenceJson {
  attestation_report: Record<string, unknown>;
  cert_chain: { cert_type: CertType; data: number[] }[] | null;
}

// Bounds on attacker-supplied JSON, far above anything real (a VCEK is ~1.4 KB, a CRL a few KB).
const MAX_CHAIN_ENTRIES = 32;
const MAX_CERT_BYTES = 64 * 1024;

const CERT_TYPE_NAMES: readonly string[] = ['ARK', 'ASK', 'VCEK', 'VLEK', 'CRL', 'Empty'];

function malformed(message: string): AttestationError {
  return new AttestationError('EVIDENCE_MALFORMED', `SNP evidence: ${message}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/**
 * An unsigned integer of at most `bits` bits. JSON numbers above 2^53 have already lost precision,
 * so they are refused rather than silently rounded; a caller with a BigInt-aware parser may pass
 * bigint values.
 */
function uint(value: unknown, name: string, bits: 8 | 32 | 64): bigint {
  let n: bigint;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number' && Number.isInteger(value)) {
    if (!Number.isSafeInteger(value)) throw malformed(`${name} is too large to be represented exactly`);
    n = BigInt(value);
  } else throw malformed(`${name} must be an unsigned integer`);
  if (n < 0n || n >= 1n << BigInt(bits)) throw malformed(`${name} is out of range for u${bits}`);
  return n;
}

function u8(value: unknown, name: string): number {
  return Number(uint(value, name, 8));
}

function bytes(value: unknown, name: string, length?: number, max = MAX_CERT_BYTES): Uint8Array {
  if (!Array.isArray(value)) throw malformed(`${name} must be an array of byte values`);
  if (length !== undefined && value.length !== length) {
    throw malformed(`${name} has ${value.length} bytes; expected ${length}`);
  }
  if (value.length > max) throw malformed(`${name} is longer than ${max} bytes`);
  const out = new Uint8Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const x = value[i];
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 255) {
      throw malformed(`${name}[${i}] is not a byte value`);
    }
    out[i] = x;
  }
  return out;
}

function field(obj: Record<string, unknown>, key: string, path = 'attestation_report'): unknown {
  if (!Object.hasOwn(obj, key)) throw malformed(`${path}.${key} is missing`);
  return obj[key];
}

function tcbFromJson(value: unknown, name: string, layout: TcbLayout): TcbVersion {
  if (!isObject(value)) throw malformed(`${name} must be an object`);
  const fmcRaw = value.fmc;
  const fmc = fmcRaw === null || fmcRaw === undefined ? null : u8(fmcRaw, `${name}.fmc`);
  if (layout !== 'turin' && fmc !== null && fmc !== 0) {
    throw malformed(`${name}.fmc is set, but only Turin reports carry an FMC SPL`);
  }
  return {
    fmc,
    bootloader: u8(field(value, 'bootloader', name), `${name}.bootloader`),
    tee: u8(field(value, 'tee', name), `${name}.tee`),
    snp: u8(field(value, 'snp', name), `${name}.snp`),
    microcode: u8(field(value, 'microcode', name), `${name}.microcode`),
  };
}

function versionFromJson(value: unknown, name: string): FirmwareVersion {
  if (!isObject(value)) throw malformed(`${name} must be an object`);
  return {
    major: u8(field(value, 'major', name), `${name}.major`),
    minor: u8(field(value, 'minor', name), `${name}.minor`),
    build: u8(field(value, 'build', name), `${name}.build`),
  };
}

function optionalU8(value: unknown, name: string): number {
  return value === null || value === undefined ? 0 : u8(value, name);
}

/** Rebuilds the 1184-byte report from `attestation_report` (§1.7.1). */
export function reportFromJson(value: unknown): Uint8Array {
  if (!isObject(value)) throw malformed('attestation_report must be an object');
  const out = new Uint8Array(REPORT_SIZE);
  const version = Number(uint(field(value, 'version'), 'version', 32));
  writeU32(out, OFFSET.version, version);
  writeU32(out, OFFSET.guestSvn, Number(uint(field(value, 'guest_svn'), 'guest_svn', 32)));
  writeU64(out, OFFSET.policy, uint(field(value, 'policy'), 'policy', 64));
  writeU32(out, OFFSET.vmpl, Number(uint(field(value, 'vmpl'), 'vmpl', 32)));
  writeU32(out, OFFSET.sigAlgo, Number(uint(field(value, 'sig_algo'), 'sig_algo', 32)));
  writeU64(out, OFFSET.platInfo, uint(field(value, 'plat_info'), 'plat_info', 64));
  writeU32(out, OFFSET.keyInfo, Number(uint(field(value, 'key_info'), 'key_info', 32)));
  for (const [name, offset, length] of BYTE_FIELDS) out.set(bytes(field(value, name), name, length), offset);
  // cpuid_* are null in v2 (the bytes are reserved there) and numbers from v3 on.
  out[OFFSET.cpuidFamId] = optionalU8(value.cpuid_fam_id, 'cpuid_fam_id');
  out[OFFSET.cpuidModId] = optionalU8(value.cpuid_mod_id, 'cpuid_mod_id');
  out[OFFSET.cpuidStep] = optionalU8(value.cpuid_step, 'cpuid_step');
  for (const [key, offset] of [
    ['current', OFFSET.current],
    ['committed', OFFSET.committed],
  ] as const) {
    const v = versionFromJson(field(value, key), key);
    out[offset] = v.build;
    out[offset + 1] = v.minor;
    out[offset + 2] = v.major;
  }
  // Older attesters omit the v5 mitigation vectors; newer ones write null before v5.
  for (const [key, offset] of [
    ['launch_mit_vector', OFFSET.launchMitVector],
    ['current_mit_vector', OFFSET.currentMitVector],
  ] as const) {
    const v = value[key];
    if (v !== null && v !== undefined) writeU64(out, offset, uint(v, key, 64));
  }
  const sig = field(value, 'signature');
  if (!isObject(sig)) throw malformed('signature must be an object with r and s');
  out.set(bytes(field(sig, 'r', 'signature'), 'signature.r', SIG_COMPONENT_SIZE), OFFSET.signatureR);
  out.set(bytes(field(sig, 's', 'signature'), 'signature.s', SIG_COMPONENT_SIZE), OFFSET.signatureS);
  // The TCB layout depends on fields written above (CPUID, or CHIP_ID for v2). A report whose
  // product is unknown is still rebuilt; the verifier rejects it after its version check.
  const { layout } = reportLayout(out);
  for (const [key, offset] of [
    ['current_tcb', OFFSET.currentTcb],
    ['reported_tcb', OFFSET.reportedTcb],
    ['committed_tcb', OFFSET.committedTcb],
    ['launch_tcb', OFFSET.launchTcb],
  ] as const) {
    encodeTcb(out, offset, tcbFromJson(field(value, key), key, layout), layout);
  }
  return out;
}

function jsonNumber(v: bigint, name: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw malformed(`${name} does not fit in a JSON number without loss`);
  }
  return Number(v);
}

/** The `attestation_report` object for a raw report, key for key as the `sev` crate serializes it. */
export function reportToJson(report: Uint8Array): Record<string, unknown> {
  if (report.length !== REPORT_SIZE) {
    throw malformed(`report is ${report.length} bytes; expected ${REPORT_SIZE}`);
  }
  const { layout, problem } = reportLayout(report);
  if (problem) throw problem;
  const version = readU32(report, OFFSET.version);
  const arr = (offset: number, length: number) => Array.from(report.subarray(offset, offset + length));
  const byName = Object.fromEntries(BYTE_FIELDS.map(([n, o, l]) => [n, arr(o, l)]));
  const fw = (offset: number): FirmwareVersion => ({
    major: report[offset + 2],
    minor: report[offset + 1],
    build: report[offset],
  });
  const cpuid = (offset: number) => (version >= 3 ? report[offset] : null);
  const mit = (offset: number) =>
    version >= 5 ? jsonNumber(readU64(report, offset), 'mitigation vector') : null;
  return {
    version,
    guest_svn: readU32(report, OFFSET.guestSvn),
    policy: jsonNumber(readU64(report, OFFSET.policy), 'policy'),
    family_id: byName.family_id,
    image_id: byName.image_id,
    vmpl: readU32(report, OFFSET.vmpl),
    sig_algo: readU32(report, OFFSET.sigAlgo),
    current_tcb: decodeTcb(report, OFFSET.currentTcb, layout),
    plat_info: jsonNumber(readU64(report, OFFSET.platInfo), 'plat_info'),
    key_info: readU32(report, OFFSET.keyInfo),
    report_data: byName.report_data,
    measurement: byName.measurement,
    host_data: byName.host_data,
    id_key_digest: byName.id_key_digest,
    author_key_digest: byName.author_key_digest,
    report_id: byName.report_id,
    report_id_ma: byName.report_id_ma,
    reported_tcb: decodeTcb(report, OFFSET.reportedTcb, layout),
    cpuid_fam_id: cpuid(OFFSET.cpuidFamId),
    cpuid_mod_id: cpuid(OFFSET.cpuidModId),
    cpuid_step: cpuid(OFFSET.cpuidStep),
    chip_id: byName.chip_id,
    committed_tcb: decodeTcb(report, OFFSET.committedTcb, layout),
    current: fw(OFFSET.current),
    committed: fw(OFFSET.committed),
    launch_tcb: decodeTcb(report, OFFSET.launchTcb, layout),
    launch_mit_vector: mit(OFFSET.launchMitVector),
    current_mit_vector: mit(OFFSET.currentMitVector),
    signature: {
      r: arr(OFFSET.signatureR, SIG_COMPONENT_SIZE),
      s: arr(OFFSET.signatureS, SIG_COMPONENT_SIZE),
    },
  };
}

/** Builds the evidence JSON a Trustee SNP verifier accepts. */
export function snpEvidenceJson(report: Uint8Array, certChain: CertChainEntry[] | null): SnpEvidenceJson {
  return {
    attestation_report: reportToJson(report),
    cert_chain: certChain?.map((e) => ({ cert_type: e.certType, data: Array.from(e.data) })) ?? null,
  };
}

function certTypeFromJson(value: unknown, i: number): CertType {
  if (typeof value === 'string' && CERT_TYPE_NAMES.includes(value)) return value as CertTypeName;
  if (isObject(value) && typeof value.OTHER === 'string' && Object.keys(value).length === 1) {
    return { OTHER: value.OTHER };
  }
  throw malformed(`cert_chain[${i}].cert_type is not a known certificate type`);
}

function certChainFromJson(value: unknown): CertChainEntry[] | null {
  if (value === null || value === undefined) return null;
  if (!Array.isArray(value)) throw malformed('cert_chain must be an array or null');
  if (value.length > MAX_CHAIN_ENTRIES)
    throw malformed(`cert_chain has more than ${MAX_CHAIN_ENTRIES} entries`);
  return value.map((entry, i) => {
    if (!isObject(entry)) throw malformed(`cert_chain[${i}] must be an object`);
    return {
      certType: certTypeFromJson(entry.cert_type, i),
      data: bytes(entry.data, `cert_chain[${i}].data`),
    };
  });
}

function parseJsonText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw malformed('not valid JSON');
  }
}

/**
 * Accepts the Trustee JSON (object, JSON text, or its UTF-8 bytes) or a raw 1184-byte report. A raw
 * report starts with its version (u32 2..5), so it can never begin with `{`.
 */
export function parseSnpEvidence(evidence: unknown): ParsedSnpEvidence {
  let value = evidence;
  if (value instanceof Uint8Array) {
    const first = value.findIndex((b) => b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d);
    if (first >= 0 && value[first] === 0x7b) {
      value = parseJsonText(Buffer.from(value.buffer, value.byteOffset, value.length).toString('utf8'));
    } else if (value.length === REPORT_SIZE) {
      return { report: new Uint8Array(value), certChain: null, form: 'raw' };
    } else {
      throw malformed(`neither JSON nor a ${REPORT_SIZE}-byte raw report (${value.length} bytes)`);
    }
  } else if (typeof value === 'string') {
    value = parseJsonText(value);
  }
  if (!isObject(value)) throw malformed('expected an object with attestation_report and cert_chain');
  return {
    report: reportFromJson(field(value, 'attestation_report', 'evidence')),
    certChain: certChainFromJson(value.cert_chain),
    form: 'json',
  };
}
