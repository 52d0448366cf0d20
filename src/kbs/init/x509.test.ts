import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { buildCertificate } from './x509.js';

test('self-signed certificates always parse: serials are positive and minimally encoded DER', () => {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  // A 0x00 first serial byte before one < 0x80 (1 in 256 with a plain top-bit clear) is illegal DER.
  for (let i = 0; i < 600; i++) {
    const pem = buildCertificate({
      subjectCn: `t${i}`,
      publicKey: key.publicKey,
      issuerKey: key.privateKey,
      days: 1,
      san: ['127.0.0.1'],
    });
    const cert = new X509Certificate(pem);
    assert.ok(cert.verify(key.publicKey));
    assert.match(cert.serialNumber, /^[4-7][0-9A-F]{31}$/);
  }
});
