import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createTestPki, makePkcs12, needsOpenssl, type TestPki } from '../../../test/fixtures/kms/pki.js';
import { skipUnless } from '../../../test/helpers/components.js';
import { Pkcs12Error, pkcs12Kdf, privateKeyFromPkcs12 } from './pkcs12.js';

test('PKCS#12 KDF: RFC 7292 construction, one block and multi-block outputs differ by ID', () => {
  const pw = Buffer.from('0073006d006500670000', 'hex'); // "smeg" as BMPString
  const salt = Buffer.from('0a58cf64530d823f', 'hex');
  // Known-answer values from the OpenSSL PKCS#12 KDF test set ("smeg", SHA-1, 1 iteration).
  assert.equal(
    pkcs12Kdf('sha1', 64, pw, salt, 1, 1, 24).toString('hex'),
    '8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3',
  );
  assert.equal(pkcs12Kdf('sha1', 64, pw, salt, 2, 1, 8).toString('hex'), '79993dfe048d3b76');
});

describe('PKCS#12 client keys made by openssl', { skip: skipUnless(needsOpenssl) }, () => {
  let pki: TestPki;
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

  before(() => {
    pki = createTestPki();
  });
  after(() => pki?.cleanup());

  for (const flavour of ['modern', 'legacy'] as const) {
    test(`${flavour} PKCS#12: the key comes out; a wrong password fails the MAC`, () => {
      const p12 = makePkcs12(pki, pem, { password: 'pässword 1', flavour });
      const key = privateKeyFromPkcs12(p12, 'pässword 1');
      assert.deepEqual(
        createPublicKey(key).export({ type: 'spki', format: 'der' }),
        publicKey.export({ type: 'spki', format: 'der' }),
      );
      assert.throws(
        () => privateKeyFromPkcs12(p12, 'wrong'),
        (e: unknown) => e instanceof Pkcs12Error && /MAC check failed/.test(e.message),
      );
      const damaged = Buffer.from(p12);
      damaged[damaged.length - 40] ^= 1;
      assert.throws(() => privateKeyFromPkcs12(damaged, 'pässword 1'), Pkcs12Error);
    });
  }

  test('garbage is rejected with a Pkcs12Error', () => {
    assert.throws(() => privateKeyFromPkcs12(Buffer.from('not a pfx'), 'x'), Pkcs12Error);
    assert.throws(() => privateKeyFromPkcs12(Buffer.alloc(0), 'x'), Pkcs12Error);
  });
});
