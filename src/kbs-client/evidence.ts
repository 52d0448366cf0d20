import type { EvidenceSource } from '../attestation/attesters/evidence-source.js';
import { isCocosealError } from '../common/errors.js';
import { canonicalize } from '../crypto/jcs.js';
import type { TeePublicJwk } from '../crypto/jwe.js';
import { KbsClientError } from './errors.js';
import { deviceReportData, type HashAlgorithm, primaryReportData } from './runtime-data.js';

/** The `tee-evidence` member of `/attest` (kbs-protocol.md §3.3, §5.2). */
export interface TeeEvidence {
  primary_evidence: unknown;
  /** JSON string of `{<tee>: <evidence>}`, or `""` without devices. */
  additional_evidence: string;
}

async function evidenceOf(attester: EvidenceSource['primary'], reportData: Uint8Array): Promise<unknown> {
  try {
    return await attester.getEvidence(reportData);
  } catch (e) {
    const why = isCocosealError(e) ? e.toLine() : e instanceof Error ? e.message : String(e);
    throw new KbsClientError('ATTESTATION_FAILED', `${attester.tee} attester failed: ${why}`, { cause: e });
  }
}

/**
 * Collects composite evidence: each device bound to D, the map serialized to A, the primary bound
 * to P over A (§4). A is serialized canonically; the KBS hashes the string as received, so any
 * member order would interoperate, and canonical form makes it reproducible.
 */
export async function collectTeeEvidence(
  source: EvidenceSource,
  alg: HashAlgorithm,
  nonce: string,
  teePubkey: TeePublicJwk,
): Promise<TeeEvidence> {
  let additional = '';
  if (source.additional.length > 0) {
    const d = deviceReportData(alg, nonce, teePubkey);
    const map: Record<string, unknown> = {};
    for (const a of source.additional) {
      if (a.tee === source.primary.tee || Object.hasOwn(map, a.tee)) {
        throw new KbsClientError('INVALID_ARGUMENT', `attester ${a.tee} is configured twice`);
      }
      map[a.tee] = await evidenceOf(a, d);
    }
    additional = canonicalize(map);
  }
  const p = primaryReportData(alg, nonce, teePubkey, additional);
  return { primary_evidence: await evidenceOf(source.primary, p), additional_evidence: additional };
}
