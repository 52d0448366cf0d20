import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { SnpVerifier } from '../src/attestation/snp/index.js';
import type { Claims, TeeType, Verifier, VerifyContext } from '../src/attestation/types.js';
import { b64u, sampleAttestBody, startTestKbs, teeKeyPair } from '../src/kbs/testing/harness.js';
import { vector } from './helpers/paths.js';

/*
 * A hardware TEE through the pluggable verifier registry: real SNP claims (from a recorded Genoa
 * report, verified by the SNP verifier) flow through RCAR, the default_cpu policy and reference
 * values. The stub stands in for the binding check, which recorded evidence cannot satisfy.
 */

class RecordedSnp implements Verifier {
  readonly tee: TeeType = 'snp';
  constructor(private readonly claims: Claims) {}
  async verify(_e: unknown, ctx: VerifyContext): Promise<Claims> {
    assert.equal(ctx.expectedReportData?.length, 48);
    return { ...this.claims };
  }
}

test('SNP claims: default_cpu is contraindicated until the SNP reference values are set', async () => {
  const ev = JSON.parse(readFileSync(vector('tee/snp/genoa-v3-vcek/evidence.json'), 'utf8'));
  const claims = await new SnpVerifier().verify(ev, { now: new Date('2026-01-01T00:00:00Z') });
  assert.equal(typeof claims.measurement, 'string');
  const kbs = await startTestKbs({ start: { verifiers: [new RecordedSnp(claims)] } });
  try {
    await kbs.request('POST', '/kbs/v0/resource-policy', {
      body: { policy: b64u('input.submods.cpu0["ear.status"] == "affirming"') },
    });
    await kbs.request('POST', '/kbs/v0/resource/a/b/c', { body: 'snp-secret' });
    const attest = async () => {
      const tee = teeKeyPair();
      const a = await kbs.request('POST', '/kbs/v0/auth', {
        body: { version: '0.4.0', tee: 'snp', 'extra-params': '' },
      });
      assert.equal(a.status, 200, a.text());
      const cookie = String(a.headers['set-cookie']?.[0]).split(';')[0];
      const body = sampleAttestBody((a.json() as { nonce: string }).nonce, tee.jwk);
      const r = await kbs.request('POST', '/kbs/v0/attest', { body, headers: { cookie } });
      assert.equal(r.status, 200, r.text());
      return (r.json() as { token: string }).token;
    };
    const t1 = await attest();
    const c1 = JSON.parse(Buffer.from(t1.split('.')[1], 'base64url').toString());
    const ae = c1.submods.cpu0['ear.veraison.annotated-evidence'];
    assert.equal(ae.snp.measurement, claims.measurement);
    assert.equal(ae.report_data, claims.report_data, 'report_data is lifted to the top level');
    assert.equal(ae.snp.report_data, undefined);
    assert.equal(c1.submods.cpu0['ear.status'], 'contraindicated');
    assert.equal(
      (await kbs.request('GET', '/kbs/v0/resource/a/b/c', { headers: { authorization: `Bearer ${t1}` } }))
        .status,
      401,
    );
    const rv = {
      snp_launch_measurement: [claims.measurement],
      snp_bootloader: [claims.reported_tcb_bootloader],
      snp_microcode: [claims.reported_tcb_microcode],
      snp_snp_svn: [claims.reported_tcb_snp],
      snp_tee_svn: [claims.reported_tcb_tee],
      smt_enabled: [claims.platform_smt_enabled],
      tsme_enabled: [claims.platform_tsme_enabled],
      abi_major: [claims.policy_abi_major],
      abi_minor: [claims.policy_abi_minor],
      single_socket: [claims.policy_single_socket],
      smt_allowed: [claims.policy_smt_allowed],
    };
    const payload = Buffer.from(JSON.stringify(rv)).toString('base64');
    assert.equal(
      (
        await kbs.request('POST', '/kbs/v0/reference-value', {
          body: { version: '0.1.0', type: 'sample', payload },
        })
      ).status,
      200,
    );
    const t2 = await attest();
    const c2 = JSON.parse(Buffer.from(t2.split('.')[1], 'base64url').toString());
    assert.equal(
      c2.submods.cpu0['ear.status'],
      'affirming',
      JSON.stringify(c2.submods.cpu0['ear.trustworthiness-vector']),
    );
    assert.equal(
      (await kbs.request('GET', '/kbs/v0/resource/a/b/c', { headers: { authorization: `Bearer ${t2}` } }))
        .status,
      200,
    );
  } finally {
    await kbs.stop();
  }
});
