import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { vector } from '../../../test/helpers/paths.js';
import { SampleDeviceVerifier, SampleVerifier } from '../../attestation/sample/verifier.js';
import { canonicalize } from '../../crypto/jcs.js';
import { parseTeePublicJwk } from '../../crypto/jwe.js';
import { deviceRuntimeData, primaryRuntimeData, runtimeDataDigest } from './runtime-data.js';

const V = JSON.parse(readFileSync(vector('report-data.json'), 'utf8'));

test('report-data vectors: the server rebuilds the canonical strings from a parsed /attest body', async () => {
  // Parse the key as the server does (the vector's x/y are not real coordinates, so build it directly).
  const pk = JSON.parse(V.inputs.tee_pubkey_json_as_sent);
  const nonce = V.inputs.nonce_b64;
  const p = primaryRuntimeData(nonce, pk, '');
  assert.equal(canonicalize(p), V.primary_no_additional_evidence.canonical);
  assert.equal(runtimeDataDigest(p, 'sha384').toString('hex'), V.primary_no_additional_evidence.sha384_hex);
  assert.equal(runtimeDataDigest(p, 'sha512').toString('hex'), V.primary_no_additional_evidence.sha512_hex);
  assert.equal(runtimeDataDigest(p, 'sha256').toString('hex'), V.primary_no_additional_evidence.sha256_hex);
  const d = deviceRuntimeData(nonce, pk);
  assert.equal(canonicalize(d), V.device.canonical);
  assert.equal(runtimeDataDigest(d, 'sha384').toString('hex'), V.device.sha384_hex);
  const c = V.primary_with_sampledevice;
  const pc = primaryRuntimeData(nonce, pk, c.additional_evidence_string);
  assert.equal(canonicalize(pc), c.canonical);
  assert.equal(runtimeDataDigest(pc, 'sha384').toString('hex'), c.sha384_hex);

  // The sample verifiers accept the vector evidence against these digests.
  const claims = await new SampleVerifier().verify(V.primary_no_additional_evidence.sample_evidence, {
    expectedReportData: runtimeDataDigest(p, 'sha384'),
  });
  assert.equal(claims.launch_digest, 'abcde');
  await new SampleVerifier().verify(c.attest_body_tee_evidence.primary_evidence, {
    expectedReportData: runtimeDataDigest(pc, 'sha384'),
  });
  const dev = JSON.parse(c.attest_body_tee_evidence.additional_evidence).sampledevice;
  assert.deepEqual(
    await new SampleDeviceVerifier().verify(dev, { expectedReportData: runtimeDataDigest(d, 'sha384') }),
    dev,
  );
  // And reject them against another binding.
  await assert.rejects(
    new SampleVerifier().verify(V.primary_no_additional_evidence.sample_evidence, {
      expectedReportData: runtimeDataDigest(d, 'sha384'),
    }),
    /report_data does not match/,
  );
});

test('the server hashes the parsed key: extra members are dropped before hashing', () => {
  const jwk = {
    kty: 'EC',
    crv: 'P-256',
    alg: 'ECDH-ES+A256KW',
    x: 'I8zXUORt-QdZ_yZQ_dVKY01AnuccKErTIMetXPjBDFE',
    y: 'r6nsUMb8FF1dAT-nfCMCi8FJxfMtQvNp-GRfAd98wxU',
  };
  const parsed = parseTeePublicJwk({ ...jwk, kid: 'x', use: 'enc' });
  assert.equal(
    canonicalize(primaryRuntimeData('n', parsed, '')),
    canonicalize(primaryRuntimeData('n', parsed, '')),
  );
  assert.deepEqual(parsed, jwk);
});
