import { parseTeePublicJwk, type TeePublicJwk } from '../../crypto/jwe.js';

/*
 * Where the TEE public key sits in token claims (kbs-protocol.md §6.4): the configured
 * `extra_teekey_paths` first, then upstream's fixed list. The first pointer that resolves wins, and it
 * must hold a valid TEE key.
 */

export const DEFAULT_TEE_KEY_POINTERS = [
  '/tdx/attester_runtime_data/tee-pubkey',
  '/tdx/attester_user_data/tee-pubkey',
  '/customized_claims/runtime_data/tee-pubkey',
  '/submods/cpu0/ear.veraison.annotated-evidence/runtime_data_claims/tee-pubkey',
  '/tee-pubkey',
];

/** RFC 6901 JSON pointer lookup. */
export function jsonPointer(doc: unknown, pointer: string): unknown {
  if (pointer === '') return doc;
  if (!pointer.startsWith('/')) return undefined;
  let cur: unknown = doc;
  for (const raw of pointer.slice(1).split('/')) {
    const tok = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9]\d*)$/.test(tok)) return undefined;
      cur = cur[Number(tok)];
    } else if (cur && typeof cur === 'object') {
      cur = Object.hasOwn(cur, tok) ? (cur as Record<string, unknown>)[tok] : undefined;
    } else {
      return undefined;
    }
    if (cur === undefined) return undefined;
  }
  return cur;
}

export class TeeKeyNotFound extends Error {}

export function findTeeKey(claims: unknown, extraPointers: readonly string[]): TeePublicJwk {
  for (const p of [...extraPointers, ...DEFAULT_TEE_KEY_POINTERS]) {
    const hit = jsonPointer(claims, p);
    if (hit === undefined) continue;
    try {
      return parseTeePublicJwk(hit);
    } catch (e) {
      throw new TeeKeyNotFound(`the TEE key at ${p} is invalid: ${(e as Error).message}`);
    }
  }
  throw new TeeKeyNotFound('the token claims carry no TEE public key');
}
