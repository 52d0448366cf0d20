import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { compactDecrypt, flattenedDecrypt, importJWK } from 'jose';
import { vector } from '../../test/helpers/paths.js';
import { CryptoError } from './errors.js';
import {
  decryptResourceResponse,
  encryptResourceResponse,
  parseTeePublicJwk,
  protectedHeaderAad,
} from './jwe.js';

const V = JSON.parse(readFileSync(vector('jwe-ecdh-es.json'), 'utf8'));
const AAD = JSON.parse(readFileSync(vector('jwe-aad.json'), 'utf8'));
const isCode = (code: string) => (e: unknown) => e instanceof CryptoError && e.code === code;

test('ECDH-ES P-256 vector reproduced byte for byte', () => {
  const out = encryptResourceResponse(V.tee_pubkey_as_sent_in_runtime_data, Buffer.from(V.plaintext_utf8), {
    ephemeralD: V.ephemeral_private_d_b64url,
    cek: Buffer.from(V.cek_hex, 'hex'),
    iv: Buffer.from(V.iv_hex, 'hex'),
  });
  assert.equal(JSON.stringify(out), JSON.stringify(V.response_body));
  assert.equal(Buffer.from(out.protected, 'base64url').toString(), V.protected_header_json);
  assert.equal(out.protected, V.aad_ascii);
});

test('vector decrypts with JWK and PKCS#8 keys; aad member ignored', () => {
  assert.equal(decryptResourceResponse(V.response_body, V.tee_private_jwk).toString(), V.plaintext_utf8);
  const pem = createPrivateKey(V.tee_private_pkcs8_pem);
  assert.equal(decryptResourceResponse(JSON.stringify(V.response_body), pem).toString(), V.plaintext_utf8);
  const withAad = { ...V.response_body, aad: 'ZZZZ' };
  assert.equal(decryptResourceResponse(withAad, pem).toString(), V.plaintext_utf8);
});

test('kbs-types AAD vector: alg, enc first', () => {
  const h = JSON.parse(AAD.protected_header_json);
  assert.equal(protectedHeaderAad(h), AAD.aad_ascii);
  const p = JSON.parse(V.protected_header_json);
  assert.equal(protectedHeaderAad({ epk: p.epk, enc: p.enc, alg: p.alg }), V.aad_ascii);
});

for (const crv of ['P-256', 'P-521'] as const) {
  test(`round trip ${crv}, decryptable by jose`, async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: crv });
    const pub = { ...publicKey.export({ format: 'jwk' }), alg: 'ECDH-ES+A256KW' };
    const body = encryptResourceResponse(pub, Buffer.from('secret value'));
    assert.equal(decryptResourceResponse(body, privateKey).toString(), 'secret value');
    const { plaintext } = await flattenedDecrypt(body, privateKey);
    assert.equal(Buffer.from(plaintext).toString(), 'secret value');
    const hdr = JSON.parse(Buffer.from(body.protected, 'base64url').toString());
    assert.deepEqual(Object.keys(hdr), ['alg', 'enc', 'epk']);
    assert.deepEqual(Object.keys(hdr.epk), ['crv', 'kty', 'x', 'y']);
  });
}

for (const alg of ['RSA-OAEP-256', 'RSA1_5'] as const) {
  test(`round trip ${alg}`, async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pub = { ...publicKey.export({ format: 'jwk' }), alg };
    const body = encryptResourceResponse(pub, Buffer.from('rsa secret'));
    assert.equal(Buffer.from(body.protected, 'base64url').toString(), `{"alg":"${alg}","enc":"A256GCM"}`);
    assert.equal(decryptResourceResponse(body, privateKey).toString(), 'rsa secret');
    if (alg === 'RSA-OAEP-256') {
      const compact = [body.protected, body.encrypted_key, body.iv, body.ciphertext, body.tag].join('.');
      const { plaintext } = await compactDecrypt(
        compact,
        await importJWK(privateKey.export({ format: 'jwk' }), alg),
      );
      assert.equal(Buffer.from(plaintext).toString(), 'rsa secret');
    }
    // Wrong key: RSA1_5 fails only at GCM (random-CEK countermeasure).
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    assert.throws(() => decryptResourceResponse(body, other), isCode('DECRYPT_FAILED'));
  });
}

test('tampering and wrong keys fail with DECRYPT_FAILED', () => {
  const key = createPrivateKey(V.tee_private_pkcs8_pem);
  const b = V.response_body;
  for (const m of ['ciphertext', 'tag', 'iv', 'encrypted_key'] as const) {
    const buf = Buffer.from(b[m], 'base64url');
    buf[0] ^= 1;
    assert.throws(() => decryptResourceResponse({ ...b, [m]: buf.toString('base64url') }, key), CryptoError);
  }
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  assert.throws(() => decryptResourceResponse(b, other), isCode('DECRYPT_FAILED'));
  const p521 = generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey;
  assert.throws(() => decryptResourceResponse(b, p521), isCode('DECRYPT_FAILED'));
  assert.throws(() => decryptResourceResponse('not json', key), isCode('JSON_INVALID'));
  assert.throws(() => decryptResourceResponse({ ...b, iv: undefined }, key), isCode('JSON_INVALID'));
});

test('TEE key validation: members, curves, coordinate lengths, off-curve points, small RSA', () => {
  const good = V.tee_pubkey_as_sent_in_runtime_data;
  assert.deepEqual(parseTeePublicJwk({ ...good, kid: 'k', use: 'enc' }), good);
  assert.throws(() => parseTeePublicJwk({ ...good, alg: undefined }), isCode('KEY_INVALID'));
  assert.throws(() => parseTeePublicJwk({ ...good, alg: 'ECDH-ES' }), isCode('UNSUPPORTED_ALGORITHM'));
  assert.throws(() => parseTeePublicJwk({ ...good, crv: 'P-384' }), isCode('UNSUPPORTED_ALGORITHM'));
  assert.throws(() => parseTeePublicJwk({ ...good, x: 'AAAA' }), isCode('KEY_INVALID'));
  assert.throws(() => parseTeePublicJwk({ kty: 'oct', k: 'AA' }), isCode('UNSUPPORTED_ALGORITHM'));
  assert.throws(() => parseTeePublicJwk(null), isCode('KEY_INVALID'));
  const offCurve = { ...good, y: Buffer.alloc(32, 1).toString('base64url') };
  assert.throws(() => encryptResourceResponse(offCurve, Buffer.from('x')), isCode('KEY_INVALID'));
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
  assert.throws(
    () => encryptResourceResponse({ ...small, alg: 'RSA-OAEP-256' }, Buffer.from('x')),
    isCode('KEY_INVALID'),
  );
});

test('epk checks: off-curve and wrong-length points are refused before any key agreement', () => {
  const key = createPrivateKey(V.tee_private_pkcs8_pem);
  const withEpk = (epk: Record<string, unknown>) => {
    const h = JSON.parse(Buffer.from(V.response_body.protected, 'base64url').toString());
    const protectedB64 = Buffer.from(JSON.stringify({ ...h, epk: { ...h.epk, ...epk } })).toString(
      'base64url',
    );
    return { ...V.response_body, protected: protectedB64 };
  };
  const notAPoint = (e: unknown) =>
    isCode('DECRYPT_FAILED')(e) && /epk is not a valid EC point/.test(String(e));
  assert.throws(
    () => decryptResourceResponse(withEpk({ y: Buffer.alloc(32, 1).toString('base64url') }), key),
    notAPoint,
  );
  assert.throws(() => decryptResourceResponse(withEpk({ x: 'AAAA' }), key), notAPoint);
  assert.throws(() => decryptResourceResponse(withEpk({ x: 42 }), key), notAPoint);
  assert.throws(() => decryptResourceResponse(withEpk({ crv: 'P-521' }), key), isCode('DECRYPT_FAILED'));
  // The key's agreement context is reused across messages, and a failure leaves it usable.
  for (let i = 0; i < 3; i++)
    assert.equal(decryptResourceResponse(V.response_body, key).toString(), V.plaintext_utf8);
});

test('ECDH-ES round trips on P-256 and P-521 with several keys in turn', () => {
  const keys = ['P-256', 'P-521', 'P-256'].map((c) => generateKeyPairSync('ec', { namedCurve: c }));
  for (let round = 0; round < 2; round++) {
    for (const [i, { publicKey, privateKey }] of keys.entries()) {
      const pub = { ...publicKey.export({ format: 'jwk' }), alg: 'ECDH-ES+A256KW' };
      const body = encryptResourceResponse(pub, Buffer.from(`secret ${i}`));
      assert.equal(decryptResourceResponse(body, privateKey).toString(), `secret ${i}`);
      const other = keys[(i + 1) % keys.length].privateKey;
      assert.throws(() => decryptResourceResponse(body, other), isCode('DECRYPT_FAILED'));
    }
  }
});
