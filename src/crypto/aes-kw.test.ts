import assert from 'node:assert/strict';
import { test } from 'node:test';
import { aesKeyUnwrap, aesKeyWrap } from './aes-kw.js';
import { CryptoError } from './errors.js';

// RFC 3394 §4.6: wrap 256 bits of key data with a 256-bit KEK.
const KEK = Buffer.from('000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F', 'hex');
const KEY = Buffer.from('00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F', 'hex');
const WRAPPED = '28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21';

test('RFC 3394 4.6 vector wraps and unwraps', () => {
  assert.equal(aesKeyWrap(KEK, KEY).toString('hex').toUpperCase(), WRAPPED);
  assert.deepEqual(aesKeyUnwrap(KEK, Buffer.from(WRAPPED, 'hex')), KEY);
});

test('tampered wrapped key and wrong KEK fail with DECRYPT_FAILED', () => {
  const w = Buffer.from(WRAPPED, 'hex');
  w[5] ^= 1;
  assert.throws(
    () => aesKeyUnwrap(KEK, w),
    (e: unknown) => e instanceof CryptoError && e.code === 'DECRYPT_FAILED',
  );
  const other = Buffer.alloc(32, 7);
  assert.throws(() => aesKeyUnwrap(other, Buffer.from(WRAPPED, 'hex')), CryptoError);
  assert.throws(
    () => aesKeyWrap(Buffer.alloc(31), KEY),
    (e: unknown) => e instanceof CryptoError && e.code === 'KEY_INVALID',
  );
});
