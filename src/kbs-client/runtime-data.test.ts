import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { vector } from '../../test/helpers/paths.js';
import { SampleAttester, SampleDeviceAttester } from '../attestation/attesters/sample.js';
import type { TeePublicJwk } from '../crypto/jwe.js';
import { KbsClientError } from './errors.js';
import { collectTeeEvidence } from './evidence.js';
import {
  deviceReportData,
  primaryReportData,
  runtimeDataDigest,
  selectHashAlgorithm,
} from './runtime-data.js';

const v = JSON.parse(readFileSync(vector('report-data.json'), 'utf8'));
const nonce: string = v.inputs.nonce_b64;
const jwk = v.inputs.tee_pubkey as TeePublicJwk;

test('JCS unit vector hashes as the AS unit test', () => {
  const digest = runtimeDataDigest('sha384', JSON.parse(v.jcs_unit_vector.input_json));
  assert.equal(digest.toString('hex'), v.jcs_unit_vector.sha384_hex);
});

test('primary binding without devices matches the vector (sha256/384/512)', () => {
  const p = v.primary_no_additional_evidence;
  assert.equal(primaryReportData('sha384', nonce, jwk, '').toString('hex'), p.sha384_hex);
  assert.equal(primaryReportData('sha256', nonce, jwk, '').toString('hex'), p.sha256_hex);
  assert.equal(primaryReportData('sha512', nonce, jwk, '').toString('hex'), p.sha512_hex);
  assert.equal(primaryReportData('sha384', nonce, jwk, '').toString('base64'), p.sample_report_data_b64);
});

test('device binding matches the vector', () => {
  assert.equal(deviceReportData('sha384', nonce, jwk).toString('hex'), v.device.sha384_hex);
});

test('sample evidence without devices is the vector evidence', async () => {
  const te = await collectTeeEvidence(
    { primary: new SampleAttester(), additional: [] },
    'sha384',
    nonce,
    jwk,
  );
  assert.deepEqual(te, {
    primary_evidence: v.primary_no_additional_evidence.sample_evidence,
    additional_evidence: '',
  });
});

test('composite sample + sampledevice evidence is byte-identical to the vector', async () => {
  const te = await collectTeeEvidence(
    { primary: new SampleAttester(), additional: [new SampleDeviceAttester()] },
    'sha384',
    nonce,
    jwk,
  );
  assert.equal(te.additional_evidence, v.primary_with_sampledevice.additional_evidence_string);
  assert.deepEqual(te, v.primary_with_sampledevice.attest_body_tee_evidence);
});

test('a device configured twice is rejected', async () => {
  await assert.rejects(
    collectTeeEvidence(
      { primary: new SampleAttester(), additional: [new SampleDeviceAttester(), new SampleDeviceAttester()] },
      'sha384',
      nonce,
      jwk,
    ),
    (e: unknown) => e instanceof KbsClientError && e.code === 'INVALID_ARGUMENT',
  );
});

test('hash selection follows the challenge, SHA-384 by default', () => {
  assert.equal(selectHashAlgorithm(''), 'sha384');
  assert.equal(selectHashAlgorithm({}), 'sha384');
  assert.equal(selectHashAlgorithm(null), 'sha384');
  assert.equal(selectHashAlgorithm({ 'selected-hash-algorithm': 'SHA512' }), 'sha512');
  assert.equal(selectHashAlgorithm({ 'selected-hash-algorithm': 'sm3' }), 'sm3');
  assert.equal(selectHashAlgorithm({ 'selected-hash-algorithm': 42 }), 'sha384');
  assert.throws(
    () => selectHashAlgorithm({ 'selected-hash-algorithm': 'md5' }),
    (e: unknown) => e instanceof KbsClientError && e.code === 'ATTESTATION_FAILED',
  );
});
