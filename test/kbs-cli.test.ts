import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { vector } from './helpers/paths.js';
import { runBin } from './helpers/run-bin.js';

const dir = mkdtempSync(join(tmpdir(), 'kbs-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('kbs verify-evidence: genuine TDX at its instant exits 0; at the wall clock it names the expired item', async () => {
  const args = [
    'verify-evidence',
    '--tee',
    'tdx',
    '--evidence',
    vector('tee/tdx/phala-v4-uptodate/quote.bin'),
    '--collateral',
    vector('tee/tdx/phala-v4-uptodate/collateral.json'),
  ];
  const ok = await runBin('kbs', [...args, '--at', '2025-07-01T00:00:00Z', '-o', 'json']);
  assert.equal(ok.code, 0, ok.stderr);
  const out = JSON.parse(ok.stdout);
  assert.equal(out.ok, true);
  assert.equal(out.claims.tcb_status, 'UpToDate');
  const now = await runBin('kbs', args);
  assert.equal(now.code, 1);
  assert.match(now.stderr, /^kbs: COLLATERAL_EXPIRED: /);
  const bad = await runBin('kbs', [...args, '--at', 'yesterday']);
  assert.equal(bad.code, 2);
});

test('kbs verify-evidence: SNP report data binding and version policy', async () => {
  const base = ['verify-evidence', '--tee', 'snp', '--at', '2026-01-01T00:00:00Z'];
  const genoa = [...base, '--evidence', vector('tee/snp/genoa-v3-vcek/evidence.json')];
  assert.equal((await runBin('kbs', genoa)).code, 0);
  const wrong = await runBin('kbs', [...genoa, '--report-data', 'ab'.repeat(64)]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /REPORT_DATA_MISMATCH/);
  const v2 = await runBin('kbs', [
    ...base,
    '--evidence',
    vector('tee/snp/milan-v2-vcek/report.bin'),
    '--vek',
    vector('tee/snp/milan-v2-vcek/vcek.der'),
  ]);
  assert.match(v2.stderr, /VERSION_NOT_ALLOWED/);
  const v2ok = await runBin('kbs', [
    ...base,
    '--evidence',
    vector('tee/snp/milan-v2-vcek/report.bin'),
    '--vek',
    vector('tee/snp/milan-v2-vcek/vcek.der'),
    '--min-version',
    '2',
  ]);
  assert.equal(v2ok.code, 0, v2ok.stderr);
});

test('kbs import-trustee imports a Trustee LocalFs directory into the configured storage', async () => {
  const init = await runBin('kbs', ['init', '--dir', join(dir, 'kbs'), '--port', '0']);
  assert.equal(init.code, 0, init.stderr);
  const trustee = join(dir, 'trustee');
  mkdirSync(join(trustee, 'repository'), { recursive: true });
  writeFileSync(join(trustee, 'repository', 'default\\x2Fkey\\x2F1'), 'one');
  writeFileSync(join(trustee, 'repository', 'default\\x2Fkey\\x2F2'), 'two');
  const cfg = join(dir, 'kbs', 'kbs-config.toml');
  const dry = await runBin('kbs', ['import-trustee', '--from', trustee, '-c', cfg, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would import 2 of 2/);
  const r = await runBin('kbs', ['import-trustee', '--from', trustee, '-c', cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /imported 2 of 2/);
  const again = await runBin('kbs', ['import-trustee', '--from', trustee, '-c', cfg]);
  assert.match(again.stdout, /2 unchanged/);
  assert.equal((await runBin('kbs', ['import-trustee', '--from', trustee])).code, 2);
});
