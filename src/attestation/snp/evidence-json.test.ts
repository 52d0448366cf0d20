import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { vector } from '../../../test/helpers/paths.js';
import { certFromBytes } from './certs.js';
import { parseSnpEvidence, reportFromJson, reportToJson, snpEvidenceJson } from './evidence-json.js';
import { decodeReport } from './report.js';

const expected = JSON.parse(readFileSync(vector('tee', 'expected.json'), 'utf8'));
const read = (rel: string) => new Uint8Array(readFileSync(vector('tee', rel)));

test('every sample report round-trips raw → Trustee JSON → raw byte for byte', () => {
  for (const c of expected.snp) {
    const raw = read(c.report);
    const json = JSON.parse(JSON.stringify(reportToJson(raw)));
    assert.deepEqual(reportFromJson(json), raw, c.id);
  }
});

test('the JSON samples rebuild to their raw reports (mitigation vectors absent, null or numbers)', () => {
  for (const c of expected.snp.filter((x: { evidence_json?: string }) => x.evidence_json)) {
    const parsed = parseSnpEvidence(JSON.parse(readFileSync(vector('tee', c.evidence_json), 'utf8')));
    assert.equal(parsed.form, 'json');
    assert.deepEqual(parsed.report, read(c.report), c.id);
  }
});

test('raw → JSON is byte-identical to the derived samples (key order and null fields as serde writes them)', () => {
  for (const [dir, report, vek, file] of [
    ['milan-v5-vcek-gcp', 'report-vmpl0.bin', 'vcek.pem', 'evidence-vmpl0.json'],
    ['milan-v3-vlek', 'report.bin', 'vlek.der', 'evidence.json'],
  ]) {
    const der = certFromBytes(read(`snp/${dir}/${vek}`), vek).der;
    const kind = vek.startsWith('vlek') ? 'VLEK' : 'VCEK';
    const json = snpEvidenceJson(read(`snp/${dir}/${report}`), [{ certType: kind, data: der }]);
    assert.equal(JSON.stringify(json), readFileSync(vector('tee', 'snp', dir, file), 'utf8').trimEnd());
  }
});

test('decoded fields match expected.json', () => {
  for (const c of expected.snp) {
    const r = decodeReport(read(c.report));
    const f = c.fields;
    assert.equal(r.version, f.version);
    assert.equal(r.vmpl, f.vmpl);
    assert.equal(`0x${r.policy.toString(16)}`, f.policy_hex);
    assert.equal(`0x${r.platInfo.toString(16)}`, f.platform_info_hex);
    assert.equal((r.keyInfo >> 2) & 7, f.signing_key);
    assert.equal(Buffer.from(r.measurement).toString('hex'), f.measurement);
    assert.equal(Buffer.from(r.chipId).toString('hex'), f.chip_id);
    const { fmc: _fmc, ...tcb } = r.reportedTcb;
    assert.deepEqual(tcb, f.reported_tcb);
    assert.equal(r.product, f.cpuid_fam_id === null ? undefined : c.product);
  }
});

test('Turin layout: fmc is carried and placed at byte 0', () => {
  const raw = Uint8Array.from(read('snp/genoa-v3-vcek/report.bin'));
  raw[0x188] = 0x1a; // family 0x1A, model 0x02: Turin
  raw[0x189] = 0x02;
  for (const off of [0x38, 0x180, 0x1e0, 0x1f0]) raw.set([1, 2, 3, 4, 0, 0, 0, 5], off);
  const json = reportToJson(raw) as { reported_tcb: Record<string, unknown> };
  assert.deepEqual(json.reported_tcb, { fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 });
  assert.deepEqual(reportFromJson(JSON.parse(JSON.stringify(json))), raw);
});

test('an fmc value on a Milan/Genoa report is refused rather than dropped', () => {
  const json = reportToJson(read('snp/genoa-v3-vcek/report.bin')) as { reported_tcb: { fmc: number | null } };
  json.reported_tcb.fmc = 3;
  assert.throws(() => reportFromJson(json), { code: 'EVIDENCE_MALFORMED', message: /fmc/ });
});

test('an unsupported CPU is named', () => {
  const raw = Uint8Array.from(read('snp/genoa-v3-vcek/report.bin'));
  raw[0x188] = 0x17;
  assert.throws(() => reportToJson(raw), { code: 'TEE_UNSUPPORTED', message: /family 0x17/ });
});
