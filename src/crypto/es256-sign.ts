import { p256 } from '@noble/curves/nist.js';
import { CryptoError } from './errors.js';

/*
 * ES256 signing as upstream's RustCrypto signer does it (sealed-secret.md §3.3): deterministic
 * RFC 6979 nonces with SHA-256, raw 64-byte r‖s, and **no** low-S normalization, so our signatures
 * are byte-identical to the Rust `secret` tool's. Operator-side only (`secret seal`): OpenSSL signs
 * with random nonces, so this one needs @noble/curves.
 */

/** RFC 6979 ES256 over `message` (hashed with SHA-256 here) with a 32-byte private scalar. */
export function signEs256(privateScalar: Uint8Array, message: Uint8Array): Uint8Array {
  try {
    return p256.sign(message, privateScalar, { prehash: true, lowS: false });
  } catch (e) {
    throw new CryptoError('KEY_INVALID', 'ES256 signing key is not a valid P-256 scalar', { cause: e });
  }
}
