import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { vector } from '../../test/helpers/paths.js';
import { decryptResourceResponse, encryptResourceResponse } from '../crypto/jwe.js';
import { KbsClientError } from './errors.js';
import { TeeKeyPair } from './tee-key.js';

const jweVector = JSON.parse(readFileSync(vector('jwe-ecdh-es.json'), 'utf8'));

test('a P-256 key from the AA PEM form yields exactly the vector tee-pubkey and decrypts the vector', () => {
  const k = TeeKeyPair.fromPem(jweVector.tee_private_pkcs8_pem);
  assert.equal(JSON.stringify(k.publicJwk), JSON.stringify(jweVector.tee_pubkey_as_sent_in_runtime_data));
  const pt = decryptResourceResponse(jweVector.response_body, k.privateKey);
  assert.equal(pt.toString('utf8'), jweVector.plaintext_utf8);
});

test('generated keys have exactly the protocol members and round-trip JWE', async () => {
  const cases = [
    ['P-256', ['kty', 'crv', 'alg', 'x', 'y'], 32],
    ['P-521', ['kty', 'crv', 'alg', 'x', 'y'], 66],
    ['RSA-2048', ['kty', 'alg', 'n', 'e'], 256],
  ] as const;
  for (const [alg, members, size] of cases) {
    const k = await TeeKeyPair.generate(alg);
    assert.deepEqual(Object.keys(k.publicJwk), members, alg);
    const jwk = k.publicJwk as Record<string, string>;
    const len = Buffer.from(jwk.x ?? jwk.n, 'base64url').length;
    assert.equal(len, size, `${alg} coordinate/modulus size`);
    const msg = Buffer.from(`hello ${alg}`);
    assert.deepEqual(decryptResourceResponse(encryptResourceResponse(k.publicJwk, msg), k.privateKey), msg);
    // The PEM form the AA hands over: PKCS#8 for EC, PKCS#1 for RSA.
    const pem = k.toPem();
    assert.match(pem, alg === 'RSA-2048' ? /BEGIN RSA PRIVATE KEY/ : /BEGIN PRIVATE KEY/);
    assert.deepEqual(TeeKeyPair.fromPem(pem).publicJwk, k.publicJwk);
    assert.ok(k.matches({ ...k.publicJwk, kid: 'ignored' }));
  }
});

test('unusable keys are refused with TEE_KEY_INVALID', async () => {
  assert.throws(
    () => TeeKeyPair.fromPem('not a key'),
    (e: unknown) => e instanceof KbsClientError && e.code === 'TEE_KEY_INVALID',
  );
  const { generateKeyPairSync } = await import('node:crypto');
  const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' });
  assert.throws(
    () => TeeKeyPair.fromPem(ed),
    (e: unknown) => e instanceof KbsClientError && e.code === 'TEE_KEY_INVALID',
  );
  const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({
    format: 'pem',
    type: 'pkcs8',
  });
  assert.throws(
    () => TeeKeyPair.fromPem(p384),
    (e: unknown) => e instanceof KbsClientError && e.code === 'TEE_KEY_INVALID',
  );
  const rsa1024 = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({
    format: 'pem',
    type: 'pkcs1',
  });
  assert.throws(
    () => TeeKeyPair.fromPem(rsa1024),
    (e: unknown) => e instanceof KbsClientError && e.code === 'TEE_KEY_INVALID',
  );
});
