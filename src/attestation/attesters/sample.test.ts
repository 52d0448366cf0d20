import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AttestationError } from '../errors.js';
import { selectAttesters } from './evidence-source.js';
import { SampleAttester, SampleDeviceAttester } from './sample.js';

test('sample evidence carries the unpadded digest in standard base64', async () => {
  const rd = Buffer.alloc(48, 0xfb);
  assert.deepEqual(await new SampleAttester().getEvidence(rd), {
    svn: '1',
    report_data: rd.toString('base64'),
  });
  assert.deepEqual(await new SampleDeviceAttester().getEvidence(rd), {
    svn: '2',
    report_data: rd.toString('base64'),
  });
});

test('report data longer than 64 bytes or empty is refused', async () => {
  await assert.rejects(new SampleAttester().getEvidence(Buffer.alloc(65)), AttestationError);
  await assert.rejects(new SampleAttester().getEvidence(Buffer.alloc(0)), AttestationError);
});

test('ENABLE_SAMPLE_DEVICE (any value) adds the sampledevice attester', () => {
  assert.equal(selectAttesters({ env: {} }).additional.length, 0);
  const s = selectAttesters({ env: { ENABLE_SAMPLE_DEVICE: '' } });
  assert.equal(s.primary.tee, 'sample');
  assert.deepEqual(
    s.additional.map((a) => a.tee),
    ['sampledevice'],
  );
  assert.equal(
    selectAttesters({ env: { ENABLE_SAMPLE_DEVICE: '1' }, sampleDevice: false }).additional.length,
    0,
  );
  const warnings: string[] = [];
  selectAttesters({ env: {}, warn: (m) => warnings.push(m) });
  assert.equal(warnings.length, 1);
});
