import { timingSafeEqual } from 'node:crypto';
import { decodeStd } from '../../crypto/base64.js';
import { AttestationError } from '../errors.js';
import type { Claims, TeeType, Verifier, VerifyContext } from '../types.js';

/*
 * The `sample` and `sampledevice` TEEs (kbs-protocol.md §5.1): testing without hardware. There is no
 * signature, so these prove nothing about the guest; the default resource policy denies sample
 * evidence for that reason. The only check is the report-data binding, which still proves the
 * evidence was produced for this session's nonce and TEE key.
 */

interface SampleEvidence {
  svn: string;
  report_data: string;
}

function parse(evidence: unknown, tee: string): SampleEvidence {
  if (!evidence || typeof evidence !== 'object' || Array.isArray(evidence)) {
    throw new AttestationError('EVIDENCE_MALFORMED', `${tee} evidence must be a JSON object`);
  }
  const e = evidence as Record<string, unknown>;
  if (typeof e.svn !== 'string')
    throw new AttestationError('EVIDENCE_MALFORMED', `${tee} evidence: "svn" must be a string`);
  if (typeof e.report_data !== 'string') {
    throw new AttestationError(
      'EVIDENCE_MALFORMED',
      `${tee} evidence: "report_data" must be a base64 string`,
    );
  }
  return { svn: e.svn, report_data: e.report_data };
}

function checkReportData(ev: SampleEvidence, ctx: VerifyContext, tee: string): void {
  let got: Buffer;
  try {
    got = decodeStd(ev.report_data, `${tee} report_data`);
  } catch (e) {
    throw new AttestationError('EVIDENCE_MALFORMED', `${tee} evidence: report_data is not standard base64`, {
      cause: e,
    });
  }
  const want = ctx.expectedReportData;
  if (!want) return;
  // Exact match, no padding (unlike hardware TEEs that zero-pad to 64 bytes).
  if (got.length !== want.length || !timingSafeEqual(got, want)) {
    throw new AttestationError(
      'REPORT_DATA_MISMATCH',
      `${tee} evidence: report_data does not match the session binding`,
    );
  }
}

export class SampleVerifier implements Verifier {
  readonly tee: TeeType = 'sample';

  async verify(evidence: unknown, ctx: VerifyContext): Promise<Claims> {
    const ev = parse(evidence, 'sample');
    checkReportData(ev, ctx, 'sample');
    const claims: Claims = {
      svn: ev.svn,
      report_data: ev.report_data,
      launch_digest: 'abcde',
      platform_version: { major: 1, minor: 4 },
      debug: false,
    };
    if (ctx.expectedInitDataHash) claims.init_data = Buffer.from(ctx.expectedInitDataHash).toString('base64');
    return claims;
  }
}

export class SampleDeviceVerifier implements Verifier {
  readonly tee: TeeType = 'sampledevice';

  async verify(evidence: unknown, ctx: VerifyContext): Promise<Claims> {
    const ev = parse(evidence, 'sampledevice');
    checkReportData(ev, ctx, 'sampledevice');
    return { svn: ev.svn, report_data: ev.report_data };
  }
}
