import { encodeB64U } from '../crypto/base64.js';
import { signEs256 } from '../crypto/es256-sign.js';
import type { P256PrivateKey } from '../crypto/jwk.js';
import { buildHeader } from './header.js';
import { type SecretPayload, serializePayload } from './payload.js';
import { SEALED_PREFIX } from './sealed-secret.js';

/*
 * Sealing (sealed-secret.md §3.5), kept apart from verification so that the in-guest side never
 * loads the signing code and its curve library.
 */

/** Signs a payload (§3.5): deterministic, byte-identical to the upstream Rust sealer. */
export function sealPayload(payload: SecretPayload, signingKey: P256PrivateKey, kid: string): string {
  const h = encodeB64U(Buffer.from(buildHeader(kid), 'utf8'));
  const p = encodeB64U(Buffer.from(serializePayload(payload), 'utf8'));
  const sig = signEs256(signingKey.d, Buffer.from(`${h}.${p}`, 'ascii'));
  return `${SEALED_PREFIX}${h}.${p}.${encodeB64U(sig)}`;
}
