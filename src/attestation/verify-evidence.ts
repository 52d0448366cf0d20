import { readFile } from 'node:fs/promises';
import { CocosealError } from '../common/errors.js';
import { AttestationError } from './errors.js';
import { verifySnpEvidenceDetailed } from './snp/verify.js';
import { TdxVerifier } from './tdx/verifier.js';
import type { Claims } from './types.js';

/*
 * `kbs verify-evidence`: the offline form of what `/attest` does with SNP or TDX evidence. The same
 * verifier code runs; "now" and the expected report data can be injected so recorded evidence can be
 * judged at the instant its collateral was valid.
 */

export interface VerifyEvidenceRequest {
  tee: 'snp' | 'tdx';
  evidencePath: string;
  /** SNP: a VCEK/VLEK file (DER or PEM) supplied out of band. */
  vekPath?: string;
  /** TDX: a collateral bundle file or directory. */
  collateralPath?: string;
  at?: Date;
  /** Expected report data (hex); the report must carry it zero-padded to 64 bytes. */
  reportDataHex?: string;
  /** SNP knobs. */
  minVersion?: number;
  allowedVmpls?: number[];
  vcekCacheDir?: string;
  kdsUrl?: string;
  /** TDX knobs. */
  allowMissingCollateral?: boolean;
  allowMissingCrls?: boolean;
  pccsUrl?: string;
}

export interface VerifyEvidenceResult {
  ok: boolean;
  tee: string;
  claims?: Claims;
  /** On failure: the failed check's code and message. */
  error?: { code: string; message: string };
}

function hexBytes(hex: string): Uint8Array {
  const clean = hex.replace(/^0x/i, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(clean) || clean.length > 128) {
    throw new AttestationError(
      'EVIDENCE_MALFORMED',
      '--report-data must be an even-length hex string of at most 64 bytes',
    );
  }
  return Buffer.from(clean, 'hex');
}

export async function verifyEvidenceFile(r: VerifyEvidenceRequest): Promise<VerifyEvidenceResult> {
  try {
    const evidence = await readFile(r.evidencePath);
    const base = { now: r.at, expectedReportData: r.reportDataHex ? hexBytes(r.reportDataHex) : undefined };
    let claims: Claims;
    if (r.tee === 'snp') {
      const vek = r.vekPath ? await readFile(r.vekPath) : undefined;
      const out = await verifySnpEvidenceDetailed(
        evidence,
        { ...base, vek },
        {
          minVersion: r.minVersion,
          allowedVmpls: r.allowedVmpls,
          vcekCacheDir: r.vcekCacheDir,
          kdsUrl: r.kdsUrl,
        },
      );
      claims = out.claims;
    } else {
      const verifier = new TdxVerifier({
        allowMissingCollateral: r.allowMissingCollateral,
        allowMissingCrls: r.allowMissingCrls,
        pccsUrl: r.pccsUrl,
      });
      claims = await verifier.verify(evidence, { ...base, collateral: r.collateralPath });
    }
    return { ok: true, tee: r.tee, claims };
  } catch (e) {
    if (e instanceof CocosealError)
      return { ok: false, tee: r.tee, error: { code: e.code, message: e.message } };
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      return {
        ok: false,
        tee: r.tee,
        error: {
          code: 'EVIDENCE_MALFORMED',
          message: `file not found: ${(e as NodeJS.ErrnoException).path}`,
        },
      };
    }
    throw e;
  }
}
