/** TEE names as the KBS protocol spells them (kbs-types `Tee`, lower-case on the wire). */
export type TeeType =
  | 'sample'
  | 'sampledevice'
  | 'snp'
  | 'tdx'
  | 'sgx'
  | 'az-snp-vtpm'
  | 'az-tdx-vtpm'
  | 'cca'
  | 'se';

/** Produces evidence inside the guest. `reportData` is the (up to 64-byte) binding the KBS expects. */
export interface Attester {
  readonly tee: TeeType;
  /** Evidence as the JSON value upstream sends in `tee-evidence` (the object, not a string). */
  getEvidence(reportData: Uint8Array): Promise<unknown>;
}

/** Claims extracted from verified evidence (flat or nested JSON as upstream verifiers emit). */
export type Claims = Record<string, unknown>;

export interface VerifyContext {
  /** The expected report data (e.g. the KBS runtime-data digest, zero-padded to 64 bytes). */
  expectedReportData?: Uint8Array;
  /** Expected init-data digest (SNP HOST_DATA / TDX MRCONFIGID), when the request carried init-data. */
  expectedInitDataHash?: Uint8Array;
  /** "Now" for certificate and collateral validity; defaults to the wall clock. */
  now?: Date;
}

/** Judges evidence of one TEE type. Throws an `AttestationError` naming the failed check. */
export interface Verifier {
  readonly tee: TeeType;
  verify(evidence: unknown, ctx: VerifyContext): Promise<Claims>;
}
