import { createCipheriv, createDecipheriv } from 'node:crypto';
import { CryptoError } from './errors.js';

/*
 * AES key wrap, RFC 3394 (default IV A6A6A6A6A6A6A6A6), through OpenSSL's id-aesNNN-wrap ciphers.
 * Used by JWE `A256KW` key management and by the `kbs` envelope KMS provider.
 */

const IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');

function cipherName(kek: Uint8Array): string {
  if (kek.length === 16 || kek.length === 24 || kek.length === 32) return `id-aes${kek.length * 8}-wrap`;
  throw new CryptoError(
    'KEY_INVALID',
    `AES key wrap: key-encryption key must be 16, 24 or 32 bytes, got ${kek.length}`,
  );
}

export function aesKeyWrap(kek: Uint8Array, key: Uint8Array): Buffer {
  if (key.length < 16 || key.length % 8 !== 0) {
    throw new CryptoError(
      'KEY_INVALID',
      'AES key wrap: key to wrap must be a multiple of 8 bytes, at least 16',
    );
  }
  const c = createCipheriv(cipherName(kek), kek, IV);
  return Buffer.concat([c.update(key), c.final()]);
}

export function aesKeyUnwrap(kek: Uint8Array, wrapped: Uint8Array): Buffer {
  if (wrapped.length < 24 || wrapped.length % 8 !== 0) {
    throw new CryptoError('DECRYPT_FAILED', 'AES key unwrap: wrapped key has an invalid length');
  }
  try {
    const d = createDecipheriv(cipherName(kek), kek, IV);
    return Buffer.concat([d.update(wrapped), d.final()]);
  } catch (e) {
    if (e instanceof CryptoError) throw e;
    throw new CryptoError(
      'DECRYPT_FAILED',
      'AES key unwrap: integrity check failed (wrong key or tampered data)',
    );
  }
}
