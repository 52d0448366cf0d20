import { createHash } from 'node:crypto';
import { canonicalize } from '../../crypto/jcs.js';
import type { TeePublicJwk } from '../../crypto/jwe.js';

/*
 * Runtime-data binding (kbs-protocol.md §4). Both sides hash the RFC 8785 canonical JSON of the
 * session nonce and the *parsed* TEE key (extra JWK members dropped); the primary evidence also binds
 * the additional-evidence string exactly as received (never re-serialized).
 */

/** SHA-384 for every TEE except IBM SE (SHA-512). */
export function bindingHash(tee: string): 'sha384' | 'sha512' {
  return tee === 'se' ? 'sha512' : 'sha384';
}

export function primaryRuntimeData(nonce: string, teePubkey: TeePublicJwk, additionalEvidence: string) {
  return { 'additional-evidence': additionalEvidence, nonce, 'tee-pubkey': teePubkey };
}

export function deviceRuntimeData(nonce: string, teePubkey: TeePublicJwk) {
  return { nonce, 'tee-pubkey': teePubkey };
}

export function runtimeDataDigest(obj: unknown, hash: 'sha256' | 'sha384' | 'sha512'): Buffer {
  return createHash(hash).update(canonicalize(obj), 'utf8').digest();
}
