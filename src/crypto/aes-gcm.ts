import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { CryptoError } from './errors.js';

/*
 * The envelope data layer (sealed-secret.md §5.5): AES-256-GCM, no AAD, output `ciphertext ‖ tag`
 * with a 16-byte tag. A256CTR is decrypt-only (upstream accepts it; it has no authentication).
 */

const TAG = 16;

export function aes256GcmEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Buffer {
  checkKey(key);
  const c = createCipheriv('aes-256-gcm', key, iv);
  return Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]);
}

export function aes256GcmDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  checkKey(key);
  if (iv.length === 0) throw new CryptoError('DECRYPT_FAILED', 'AES-GCM: empty IV');
  if (data.length < TAG)
    throw new CryptoError('DECRYPT_FAILED', 'AES-GCM: data shorter than the 16-byte tag');
  try {
    const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG });
    d.setAuthTag(data.subarray(data.length - TAG));
    return Buffer.concat([d.update(data.subarray(0, data.length - TAG)), d.final()]);
  } catch {
    throw new CryptoError('DECRYPT_FAILED', 'AES-GCM: authentication failed (wrong key or tampered data)');
  }
}

/** AES-256-CTR with a 16-byte IV as the initial big-endian counter block. Unauthenticated. */
export function aes256CtrDecrypt(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  checkKey(key);
  if (iv.length !== 16)
    throw new CryptoError('DECRYPT_FAILED', `AES-CTR: IV must be 16 bytes, got ${iv.length}`);
  const d = createDecipheriv('aes-256-ctr', key, iv);
  return Buffer.concat([d.update(data), d.final()]);
}

/** A fresh random data key and GCM IV, as upstream generates them (CSPRNG, no KDF). */
export function freshDataKey(): { key: Buffer; iv: Buffer } {
  return { key: randomBytes(32), iv: randomBytes(12) };
}

function checkKey(key: Uint8Array): void {
  if (key.length !== 32)
    throw new CryptoError('KEY_INVALID', `AES-256: key must be 32 bytes, got ${key.length}`);
}
