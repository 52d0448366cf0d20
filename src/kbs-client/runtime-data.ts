import { createHash } from 'node:crypto';
import { canonicalize } from '../crypto/jcs.js';
import type { TeePublicJwk } from '../crypto/jwe.js';
import { KbsClientError } from './errors.js';

/*
 * Runtime-data binding (kbs-protocol.md §4): report data = HASH(JCS(object)).
 * - device evidence binds {"nonce","tee-pubkey"};
 * - primary evidence binds {"additional-evidence": A, "nonce", "tee-pubkey"}, the member always
 *   present, A = "" without devices.
 * The hash follows the challenge's `selected-hash-algorithm`, SHA-384 by default (§3.2).
 */

export type HashAlgorithm = 'sha256' | 'sha384' | 'sha512' | 'sm3';
/** Sent in `/auth` `extra-params.supported-hash-algorithms`. */
export const SUPPORTED_HASH_ALGORITHMS: readonly HashAlgorithm[] = ['sha256', 'sha384', 'sha512', 'sm3'];

/** The hash the challenge asks for: its `extra-params.selected-hash-algorithm` if set, else SHA-384. */
export function selectHashAlgorithm(challengeExtraParams: unknown): HashAlgorithm {
  if (
    !challengeExtraParams ||
    typeof challengeExtraParams !== 'object' ||
    Array.isArray(challengeExtraParams)
  ) {
    return 'sha384';
  }
  const sel = (challengeExtraParams as Record<string, unknown>)['selected-hash-algorithm'];
  if (typeof sel !== 'string') return 'sha384';
  const alg = sel.toLowerCase();
  if ((SUPPORTED_HASH_ALGORITHMS as readonly string[]).includes(alg)) return alg as HashAlgorithm;
  throw new KbsClientError(
    'ATTESTATION_FAILED',
    `the KBS challenge selects hash algorithm ${JSON.stringify(sel.slice(0, 40))}, which is not supported`,
  );
}

export function runtimeDataDigest(alg: HashAlgorithm, value: unknown): Buffer {
  return createHash(alg).update(canonicalize(value), 'utf8').digest();
}

/** `D` for additional (device) evidence. */
export function deviceReportData(alg: HashAlgorithm, nonce: string, teePubkey: TeePublicJwk): Buffer {
  return runtimeDataDigest(alg, { nonce, 'tee-pubkey': teePubkey });
}

/** `P` for the primary evidence; `additionalEvidence` is the exact string sent in `additional_evidence`. */
export function primaryReportData(
  alg: HashAlgorithm,
  nonce: string,
  teePubkey: TeePublicJwk,
  additionalEvidence: string,
): Buffer {
  return runtimeDataDigest(alg, {
    'additional-evidence': additionalEvidence,
    nonce,
    'tee-pubkey': teePubkey,
  });
}
