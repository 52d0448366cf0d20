import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { startTestKbs, teeKeyPair } from '../src/kbs/testing/harness.js';
import { vector } from './helpers/paths.js';

/*
 * Recorded hardware evidence through the real KBS and the real SNP/TDX verifiers: /auth and /attest
 * accept the request, the verifier runs every check, and the only one that can fail is the
 * report-data binding, because a recorded report cannot bind this session's fresh nonce.
 */

async function attestWith(
  tee: 'snp' | 'tdx',
  evidence: unknown,
  config: Record<string, Record<string, unknown>> = {},
) {
  const kbs = await startTestKbs({ config });
  try {
    const a = await kbs.request('POST', '/kbs/v0/auth', {
      body: { version: '0.4.0', tee, 'extra-params': '' },
    });
    assert.equal(a.status, 200, a.text());
    const cookie = String(a.headers['set-cookie']?.[0]).split(';')[0];
    const { nonce } = a.json() as { nonce: string };
    const body = { 'runtime-data': { nonce, 'tee-pubkey': teeKeyPair().jwk }, 'tee-evidence': evidence };
    const r = await kbs.request('POST', '/kbs/v0/attest', { body, headers: { cookie } });
    // The wire error is upstream's opaque AttestationError; the audit record names the failed check.
    const audit = await kbs.request('GET', '/kbs/v0/audit');
    const records = audit.json() as
      | { records?: { kind: string; reason?: string }[] }
      | { kind: string; reason?: string }[];
    const list = Array.isArray(records) ? records : (records.records ?? []);
    const reason = list.filter((x) => x.kind === 'attestation').at(-1)?.reason ?? '';
    return { status: r.status, text: r.text(), reason };
  } finally {
    await kbs.stop();
  }
}

test('SNP: a recorded Genoa report reaches the verifier and fails only the report-data binding', async () => {
  const evidence = JSON.parse(readFileSync(vector('tee/snp/genoa-v3-vcek/evidence.json'), 'utf8'));
  const r = await attestWith('snp', { primary_evidence: evidence, additional_evidence: '' });
  assert.equal(r.status, 401, r.text);
  assert.match(r.text, /AttestationError/);
  assert.match(r.reason, /^REPORT_DATA_MISMATCH: /);
  // A flipped bit in the signed report is caught before the binding is even looked at.
  const bad = structuredClone(evidence);
  bad.attestation_report.measurement = [...bad.attestation_report.measurement];
  bad.attestation_report.measurement[0] ^= 1;
  const tampered = await attestWith('snp', { primary_evidence: bad, additional_evidence: '' });
  assert.equal(tampered.status, 401);
  assert.match(tampered.reason, /^SIGNATURE_INVALID: /);
});

test('TDX: a recorded quote with its collateral reaches the verifier and fails only the report-data binding', async () => {
  const quote = readFileSync(vector('tee/tdx/phala-v4-uptodate/quote.bin'));
  const evidence = {
    primary_evidence: { quote: quote.toString('base64'), cc_eventlog: null },
    additional_evidence: '',
  };
  const config = {
    attestation_service: {
      verifier_config: { tdx: { collateral_dir: vector('tee/tdx/phala-v4-uptodate/collateral.json') } },
    },
  };
  const r = await attestWith('tdx', evidence, config);
  assert.equal(r.status, 401, r.text);
  assert.match(r.reason, /^REPORT_DATA_MISMATCH: /);
});
