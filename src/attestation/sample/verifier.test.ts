import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AttestationError } from '../errors.js';
import { SampleDeviceVerifier, SampleVerifier } from './verifier.js';

const isCode = (code: string) => (e: unknown) => e instanceof AttestationError && e.code === code;

test('sample verifier: claims, init_data, exact report_data match', async () => {
  const rd = Buffer.alloc(48, 3);
  const v = new SampleVerifier();
  const claims = await v.verify(
    { svn: '1', report_data: rd.toString('base64') },
    { expectedReportData: rd, expectedInitDataHash: Buffer.alloc(32, 1) },
  );
  assert.deepEqual(claims, {
    svn: '1',
    report_data: rd.toString('base64'),
    launch_digest: 'abcde',
    platform_version: { major: 1, minor: 4 },
    debug: false,
    init_data: Buffer.alloc(32, 1).toString('base64'),
  });
  // Zero padding is not accepted for sample (exact match).
  const padded = Buffer.concat([rd, Buffer.alloc(16)]);
  await assert.rejects(
    v.verify({ svn: '1', report_data: padded.toString('base64') }, { expectedReportData: rd }),
    isCode('REPORT_DATA_MISMATCH'),
  );
  await assert.rejects(v.verify({ svn: 1, report_data: '' }, {}), isCode('EVIDENCE_MALFORMED'));
  await assert.rejects(v.verify('x', {}), isCode('EVIDENCE_MALFORMED'));
  await assert.rejects(
    v.verify({ svn: '1', report_data: 'not base64!' }, { expectedReportData: rd }),
    isCode('EVIDENCE_MALFORMED'),
  );
  assert.deepEqual(
    await new SampleDeviceVerifier().verify(
      { svn: '2', report_data: rd.toString('base64') },
      { expectedReportData: rd },
    ),
    {
      svn: '2',
      report_data: rd.toString('base64'),
    },
  );
});
