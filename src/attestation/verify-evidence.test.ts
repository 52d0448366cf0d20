import assert from 'node:assert/strict';
import { test } from 'node:test';
import { vector } from '../../test/helpers/paths.js';
import { verifyEvidenceFile } from './verify-evidence.js';

const GENOA_RD =
  '7e7320889600c7ac133aea7b896c51f41026002982292a7369559796999c1bf929eef3ff23c46e858f0b1982f9a92b17c51b578d958cde6b0c92978f150cf9b0';

test('snp: genuine evidence at its instant, with and without the right report data', async () => {
  const base = {
    tee: 'snp' as const,
    evidencePath: vector('tee/snp/genoa-v3-vcek/evidence.json'),
    at: new Date('2026-01-01T00:00:00Z'),
  };
  const ok = await verifyEvidenceFile({ ...base, reportDataHex: GENOA_RD });
  assert.equal(ok.ok, true, JSON.stringify(ok.error));
  assert.equal((ok.claims as Record<string, unknown>).report_data, GENOA_RD);
  const wrong = await verifyEvidenceFile({ ...base, reportDataHex: '00'.repeat(48) });
  assert.deepEqual([wrong.ok, wrong.error?.code], [false, 'REPORT_DATA_MISMATCH']);
  const raw = await verifyEvidenceFile({
    ...base,
    evidencePath: vector('tee/snp/genoa-v3-vcek/report.bin'),
    vekPath: vector('tee/snp/genoa-v3-vcek/vcek.der'),
  });
  assert.equal(raw.ok, true, JSON.stringify(raw.error));
  const v2 = await verifyEvidenceFile({
    tee: 'snp',
    evidencePath: vector('tee/snp/milan-v2-vcek/report.bin'),
    vekPath: vector('tee/snp/milan-v2-vcek/vcek.der'),
    at: base.at,
  });
  assert.deepEqual([v2.ok, v2.error?.code], [false, 'VERSION_NOT_ALLOWED']);
});

test('tdx: genuine at its instant; at the wall clock the collateral has expired', async () => {
  const base = {
    tee: 'tdx' as const,
    evidencePath: vector('tee/tdx/phala-v4-uptodate/quote.bin'),
    collateralPath: vector('tee/tdx/phala-v4-uptodate/collateral.json'),
  };
  const ok = await verifyEvidenceFile({ ...base, at: new Date('2025-07-01T00:00:00Z') });
  assert.equal(ok.ok, true, JSON.stringify(ok.error));
  assert.equal((ok.claims as Record<string, unknown>).tcb_status, 'UpToDate');
  const now = await verifyEvidenceFile(base);
  assert.equal(now.ok, false);
  assert.match(now.error?.code ?? '', /EXPIRED/);
  const missing = await verifyEvidenceFile({ ...base, evidencePath: '/nonexistent/quote.bin' });
  assert.equal(missing.error?.code, 'EVIDENCE_MALFORMED');
});
