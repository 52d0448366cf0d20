import { AttestationError } from '../errors.js';

/*
 * The SEV-SNP ATTESTATION_REPORT (tee-evidence.md §1.1–§1.3): fixed offsets, little-endian integers,
 * and a TCB_VERSION whose byte layout depends on the product. This module only decodes and encodes;
 * it judges nothing.
 */

export const REPORT_SIZE = 0x4a0;
/** The signature covers bytes 0x000..0x29F. */
export const SIGNED_LENGTH = 0x2a0;
/** r and s are 72-byte little-endian fields; P-384 uses the low 48 bytes of each. */
export const SIG_COMPONENT_SIZE = 72;

export const OFFSET = {
  version: 0x000,
  guestSvn: 0x004,
  policy: 0x008,
  familyId: 0x010,
  imageId: 0x020,
  vmpl: 0x030,
  sigAlgo: 0x034,
  currentTcb: 0x038,
  platInfo: 0x040,
  keyInfo: 0x048,
  reportData: 0x050,
  measurement: 0x090,
  hostData: 0x0c0,
  idKeyDigest: 0x0e0,
  authorKeyDigest: 0x110,
  reportId: 0x140,
  reportIdMa: 0x160,
  reportedTcb: 0x180,
  cpuidFamId: 0x188,
  cpuidModId: 0x189,
  cpuidStep: 0x18a,
  chipId: 0x1a0,
  committedTcb: 0x1e0,
  current: 0x1e8,
  committed: 0x1ec,
  launchTcb: 0x1f0,
  launchMitVector: 0x1f8,
  currentMitVector: 0x200,
  signatureR: 0x2a0,
  signatureS: 0x2e8,
} as const;

/** Byte-array fields: name in the Trustee JSON, offset, length. */
export const BYTE_FIELDS = [
  ['family_id', OFFSET.familyId, 16],
  ['image_id', OFFSET.imageId, 16],
  ['report_data', OFFSET.reportData, 64],
  ['measurement', OFFSET.measurement, 48],
  ['host_data', OFFSET.hostData, 32],
  ['id_key_digest', OFFSET.idKeyDigest, 48],
  ['author_key_digest', OFFSET.authorKeyDigest, 48],
  ['report_id', OFFSET.reportId, 32],
  ['report_id_ma', OFFSET.reportIdMa, 32],
  ['chip_id', OFFSET.chipId, 64],
] as const;

export type SnpProduct = 'Milan' | 'Genoa' | 'Turin';
export const SNP_PRODUCTS: readonly SnpProduct[] = ['Milan', 'Genoa', 'Turin'];

/** Milan and Genoa share one TCB_VERSION layout; Turin adds FMC and moves the fields (§1.3). */
export type TcbLayout = 'milan-genoa' | 'turin';

export interface TcbVersion {
  /** Turin only; null on Milan/Genoa (as the `sev` crate serializes it). */
  fmc: number | null;
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
}

export interface FirmwareVersion {
  major: number;
  minor: number;
  build: number;
}

/** KEY_INFO.SIGNING_KEY values (§1.2). */
export const SIGNING_KEY = { VCEK: 0, VLEK: 1, NONE: 7 } as const;

export function layoutOf(product: SnpProduct): TcbLayout {
  return product === 'Turin' ? 'turin' : 'milan-genoa';
}

export function decodeTcb(bytes: Uint8Array, offset: number, layout: TcbLayout): TcbVersion {
  const b = (i: number) => bytes[offset + i];
  if (layout === 'turin') {
    return { fmc: b(0), bootloader: b(1), tee: b(2), snp: b(3), microcode: b(7) };
  }
  return { fmc: null, bootloader: b(0), tee: b(1), snp: b(6), microcode: b(7) };
}

export function encodeTcb(out: Uint8Array, offset: number, tcb: TcbVersion, layout: TcbLayout): void {
  out.fill(0, offset, offset + 8);
  if (layout === 'turin') {
    out[offset] = tcb.fmc ?? 0;
    out[offset + 1] = tcb.bootloader;
    out[offset + 2] = tcb.tee;
    out[offset + 3] = tcb.snp;
  } else {
    out[offset] = tcb.bootloader;
    out[offset + 1] = tcb.tee;
    out[offset + 6] = tcb.snp;
  }
  out[offset + 7] = tcb.microcode;
}

/** Product from CPUID_FAM_ID / CPUID_MOD_ID, with Trustee's ranges (§1.3). */
export function productFromCpuid(family: number, model: number): SnpProduct | undefined {
  if (family === 0x19) {
    if (model <= 0x0f) return 'Milan';
    if ((model >= 0x10 && model <= 0x1f) || (model >= 0xa0 && model <= 0xaf)) return 'Genoa';
  }
  if (family === 0x1a && model <= 0x11) return 'Turin';
  return undefined;
}

function allZero(bytes: Uint8Array): boolean {
  for (const x of bytes) if (x !== 0) return false;
  return true;
}

export interface ReportLayout {
  layout: TcbLayout;
  /** From CPUID (v3+); undefined for v2. */
  product?: SnpProduct;
  /**
   * Why the product cannot be handled (an unknown CPU, or a v2 report with a masked CHIP_ID). The
   * layout then defaults to Milan/Genoa; the verifier reports this after its version check, which
   * is upstream's order.
   */
  problem?: AttestationError;
}

/**
 * The TCB layout of a report. v3+ names its product in the CPUID fields. A v2 report does not: like
 * the `sev` crate, take an 8-byte chip ID (the rest zero) as Turin and anything else as Milan/Genoa.
 */
export function reportLayout(report: Uint8Array): ReportLayout {
  const version = readU32(report, OFFSET.version);
  if (version >= 3) {
    const family = report[OFFSET.cpuidFamId];
    const model = report[OFFSET.cpuidModId];
    const product = productFromCpuid(family, model);
    if (!product) {
      const problem = new AttestationError(
        'TEE_UNSUPPORTED',
        `SNP report names an unsupported CPU (family 0x${family.toString(16)}, model 0x${model.toString(16)}); supported: Milan, Genoa, Turin`,
      );
      return { layout: 'milan-genoa', problem };
    }
    return { layout: layoutOf(product), product };
  }
  const chipId = report.subarray(OFFSET.chipId, OFFSET.chipId + 64);
  if (allZero(chipId)) {
    const problem = new AttestationError(
      'EVIDENCE_MALFORMED',
      'SNP v2 report has a masked (all-zero) CHIP_ID, so its product cannot be determined',
    );
    return { layout: 'milan-genoa', problem };
  }
  return { layout: allZero(chipId.subarray(8)) ? 'turin' : 'milan-genoa' };
}

export function readU32(bytes: Uint8Array, offset: number): number {
  return (
    (bytes[offset] | (bytes[offset + 1] << 8) | (bytes[offset + 2] << 16) | (bytes[offset + 3] << 24)) >>> 0
  );
}

export function readU64(bytes: Uint8Array, offset: number): bigint {
  return BigInt(readU32(bytes, offset)) | (BigInt(readU32(bytes, offset + 4)) << 32n);
}

export function writeU32(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value & 0xff;
  out[offset + 1] = (value >>> 8) & 0xff;
  out[offset + 2] = (value >>> 16) & 0xff;
  out[offset + 3] = (value >>> 24) & 0xff;
}

export function writeU64(out: Uint8Array, offset: number, value: bigint): void {
  writeU32(out, offset, Number(value & 0xffffffffn));
  writeU32(out, offset + 4, Number((value >> 32n) & 0xffffffffn));
}

/** A decoded report: every field the verifier and the claims need, as views into `bytes`. */
export interface SnpReport {
  bytes: Uint8Array;
  version: number;
  guestSvn: number;
  policy: bigint;
  vmpl: number;
  sigAlgo: number;
  platInfo: bigint;
  keyInfo: number;
  layout: TcbLayout;
  /** From CPUID (v3+); undefined for v2. */
  product?: SnpProduct;
  /** Set when the product cannot be handled (see ReportLayout). */
  problem?: AttestationError;
  reportedTcb: TcbVersion;
  reportData: Uint8Array;
  measurement: Uint8Array;
  hostData: Uint8Array;
  chipId: Uint8Array;
}

export function decodeReport(bytes: Uint8Array): SnpReport {
  if (bytes.length !== REPORT_SIZE) {
    throw new AttestationError(
      'EVIDENCE_MALFORMED',
      `SNP report is ${bytes.length} bytes; expected ${REPORT_SIZE}`,
    );
  }
  const { layout, product, problem } = reportLayout(bytes);
  const view = (off: number, len: number) => bytes.subarray(off, off + len);
  return {
    bytes,
    version: readU32(bytes, OFFSET.version),
    guestSvn: readU32(bytes, OFFSET.guestSvn),
    policy: readU64(bytes, OFFSET.policy),
    vmpl: readU32(bytes, OFFSET.vmpl),
    sigAlgo: readU32(bytes, OFFSET.sigAlgo),
    platInfo: readU64(bytes, OFFSET.platInfo),
    keyInfo: readU32(bytes, OFFSET.keyInfo),
    layout,
    product,
    problem,
    reportedTcb: decodeTcb(bytes, OFFSET.reportedTcb, layout),
    reportData: view(OFFSET.reportData, 64),
    measurement: view(OFFSET.measurement, 48),
    hostData: view(OFFSET.hostData, 32),
    chipId: view(OFFSET.chipId, 64),
  };
}

/** KEY_INFO bits 4:2. */
export function signingKeyOf(keyInfo: number): number {
  return (keyInfo >>> 2) & 0x7;
}

/** KEY_INFO bit 1: the firmware masked the chip key and left the signature zero. */
export function chipKeyMasked(keyInfo: number): boolean {
  return (keyInfo & 0x2) !== 0;
}
