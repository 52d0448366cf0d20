import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { vector } from '../../test/helpers/paths.js';
import { attestationCode } from '../../test/helpers/thrown.js';
import {
  assertNotRevoked,
  checkCrl,
  checkCrlTime,
  crlSignatureValid,
  isRevoked,
  normalizeSerial,
  parseCrl,
  verifyCrlIssuer,
} from './crl.js';
import { parseCertificates } from './x509.js';

const dir = vector('tee', 'tdx', 'gotdx-v4-notsupported');
const pckCrlDer = readFileSync(`${dir}/pck_crl.der`);
const rootCrlDer = readFileSync(`${dir}/root_ca_crl.der`);
const [platformCa, root] = parseCertificates(readFileSync(`${dir}/pck_crl_issuer_chain.pem`, 'utf8'));

describe('CRL', () => {
  test('parses the Intel PCK and root CA CRLs', () => {
    const pck = parseCrl(pckCrlDer);
    assert.equal(pck.thisUpdate.toISOString(), '2023-06-08T07:27:52.000Z');
    assert.equal(pck.nextUpdate?.toISOString(), '2023-07-08T07:27:52.000Z');
    assert.equal(pck.crlNumber, 1n);
    assert.equal(pck.revoked.size, 44);
    assert.deepEqual(pck.scheme, { kind: 'ecdsa', hash: 'sha256' });
    const rootCrl = parseCrl(rootCrlDer);
    assert.equal(rootCrl.revoked.size, 0);
    assert.equal(rootCrl.nextUpdate?.toISOString(), '2024-04-02T10:22:51.000Z');
  });

  test('verifies issuer name and signature', () => {
    verifyCrlIssuer(parseCrl(pckCrlDer), platformCa);
    verifyCrlIssuer(parseCrl(rootCrlDer), root);
    assert.equal(
      attestationCode(() => verifyCrlIssuer(parseCrl(pckCrlDer), root)),
      'CHAIN_INVALID',
    );
    // Right name, wrong key: the root CRL checked against the platform CA's key.
    assert.equal(crlSignatureValid(parseCrl(rootCrlDer), platformCa), false);
  });

  test('a flipped bit in the signed part breaks the signature', () => {
    const bad = Buffer.from(pckCrlDer);
    bad[200] ^= 0x01; // inside a revoked serial number
    assert.equal(
      attestationCode(() => verifyCrlIssuer(parseCrl(bad), platformCa)),
      'SIGNATURE_INVALID',
    );
  });

  test('time window at an injected instant', () => {
    const crl = parseCrl(pckCrlDer);
    checkCrlTime(crl, new Date('2023-07-01T00:00:00Z'));
    assert.equal(
      attestationCode(() => checkCrlTime(crl, new Date('2023-07-09T00:00:00Z'))),
      'COLLATERAL_EXPIRED',
    );
    assert.equal(
      attestationCode(() => checkCrlTime(crl, new Date('2023-06-01T00:00:00Z'))),
      'COLLATERAL_EXPIRED',
    );
    assert.equal(
      attestationCode(() => checkCrlTime(crl, new Date())),
      'COLLATERAL_EXPIRED',
    );
  });

  test('revocation lookup by serial, ignoring case and leading zeros', () => {
    const crl = parseCrl(pckCrlDer);
    const listed = [...crl.revoked][0];
    assert.ok(isRevoked(crl, listed.toUpperCase()));
    assert.ok(isRevoked(crl, `00${listed}`));
    assert.ok(!isRevoked(crl, platformCa));
    assertNotRevoked(crl, platformCa, 'PCK CRL');
    checkCrl(parseCrl(rootCrlDer), root, platformCa, new Date('2023-07-01T00:00:00Z'), 'root CA CRL');
    assert.equal(normalizeSerial('00:0A'), 'a');
    assert.equal(normalizeSerial('0000'), '0');
  });

  test('garbage is COLLATERAL_INVALID, not a crash', () => {
    assert.equal(
      attestationCode(() => parseCrl(Buffer.from('not a crl'))),
      'COLLATERAL_INVALID',
    );
    assert.equal(
      attestationCode(() => parseCrl(pckCrlDer.subarray(0, 100))),
      'COLLATERAL_INVALID',
    );
    assert.equal(
      attestationCode(() => parseCrl(Buffer.concat([rootCrlDer, Buffer.from([0])]))),
      'COLLATERAL_INVALID',
    );
    // A certificate is DER but not a CRL.
    assert.equal(
      attestationCode(() => parseCrl(root.raw)),
      'COLLATERAL_INVALID',
    );
  });
});
