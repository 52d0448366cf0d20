import { encodeStd } from '../../crypto/base64.js';
import { AttestationError } from '../errors.js';
import type { Attester, TeeType } from '../types.js';

/*
 * Sample attesters for testing without TEE hardware (kbs-protocol.md §5.1, cdh.md §7.6).
 * Evidence: {"svn":"1","report_data":"<STD base64 of the raw digest>"}, the digest not padded. The
 * KBS sample verifier checks no signature: this evidence proves nothing, and the default resource
 * policy denies it.
 */

export interface SampleEvidence {
  svn: string;
  report_data: string;
}

/** Longest report data any TEE accepts; the sample verifier compares the unpadded digest. */
const MAX_REPORT_DATA = 64;

function sampleEvidence(tee: TeeType, svn: string, reportData: Uint8Array): SampleEvidence {
  if (reportData.length === 0 || reportData.length > MAX_REPORT_DATA) {
    throw new AttestationError(
      'ATTESTER_FAILED',
      `${tee} attester: report data must be 1..${MAX_REPORT_DATA} bytes, got ${reportData.length}`,
    );
  }
  return { svn, report_data: encodeStd(reportData) };
}

/** The primary `sample` TEE (class cpu). */
export class SampleAttester implements Attester {
  readonly tee = 'sample' as const;
  /** `svn` is configurable only so tests can present evidence that fails reference values. */
  constructor(private readonly svn = '1') {}

  async getEvidence(reportData: Uint8Array): Promise<SampleEvidence> {
    return sampleEvidence(this.tee, this.svn, reportData);
  }
}

/** The additional `sampledevice` attester (class gpu), enabled by `ENABLE_SAMPLE_DEVICE`. */
export class SampleDeviceAttester implements Attester {
  readonly tee = 'sampledevice' as const;
  constructor(private readonly svn = '2') {}

  async getEvidence(reportData: Uint8Array): Promise<SampleEvidence> {
    return sampleEvidence(this.tee, this.svn, reportData);
  }
}
