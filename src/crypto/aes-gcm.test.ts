import assert from 'node:assert/strict';
import { createCipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { vector } from '../../test/helpers/paths.js';
import { aes256CtrDecrypt, aes256GcmDecrypt, aes256GcmEncrypt } from './aes-gcm.js';
import { decodeStd, encodeStd } from './base64.js';
import { CryptoError } from './errors.js';

const v = JSON.parse(readFileSync(vector('aes-gcm.json'), 'utf8'));
const key = Buffer.from(v.key_hex, 'hex');
const iv = Buffer.from(v.iv_hex, 'hex');

test('AES-256-GCM vector: ciphertext ‖ tag, standard base64', () => {
  const out = aes256GcmEncrypt(key, iv, Buffer.from(v.plaintext_utf8));
  assert.equal(encodeStd(out), v.encrypted_data_b64);
  assert.equal(out.length, v.encrypted_data_length);
  assert.equal(aes256GcmDecrypt(key, iv, decodeStd(v.encrypted_data_b64)).toString(), v.plaintext_utf8);
});

test('AES-256-GCM negative cases: tampered tag, unpadded and url-safe base64', () => {
  const [tampered, unpadded, urlsafe] = v.negative_cases;
  assert.throws(
    () => aes256GcmDecrypt(key, iv, decodeStd(tampered.encrypted_data_b64)),
    (e: unknown) => e instanceof CryptoError && e.code === 'DECRYPT_FAILED',
  );
  for (const c of [unpadded, urlsafe])
    assert.throws(
      () => decodeStd(c.encrypted_data_b64),
      (e: unknown) => e instanceof CryptoError && e.code === 'BASE64_INVALID',
    );
  assert.throws(() => aes256GcmDecrypt(key, iv, Buffer.alloc(15)), CryptoError);
  assert.throws(
    () => aes256GcmDecrypt(Buffer.alloc(16), iv, Buffer.alloc(32)),
    (e: unknown) => e instanceof CryptoError && e.code === 'KEY_INVALID',
  );
});

test('A256CTR decrypts with a 16-byte initial counter block', () => {
  const ctrIv = Buffer.from('000102030405060708090a0b0c0d0eff', 'hex');
  const c = createCipheriv('aes-256-ctr', key, ctrIv);
  const ct = Buffer.concat([c.update('counter mode crosses a block boundary'), c.final()]);
  assert.equal(aes256CtrDecrypt(key, ctrIv, ct).toString(), 'counter mode crosses a block boundary');
  assert.throws(() => aes256CtrDecrypt(key, iv, ct), CryptoError);
});
