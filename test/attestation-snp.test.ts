import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { AttestationError } from '../src/attestation/errors.js';
import {
  certFromBytes,
  clearCertCaches,
  clearVcekMemory,
  decodeReport,
  kdsVcekPath,
  parseSnpEvidence,
  SnpVerifier,
  type SnpVerifierOptions,
  type SnpVerifyContext,
  verifySnpEvidence,
  verifySnpEvidenceDetailed,
  verifySnpVekChain,
} from '../src/attestation/snp/index.js';
import { pemBlocks } from '../src/attestation/x509.js';
import { vector } from './helpers/paths.js';

/*
 * The SEV-SNP verifier against the recorded samples (test/vectors/tee/README.md, expected.json):
 * every case at its injected instant, the wall clock, mutations of every sample, the report-data
 * and init-data binding, policy knobs and the VCEK sources (cache directory and a loopback KDS).
 */

interface SnpCase {
  id: string;
  report: string;
  evidence_json?: string;
  vek: string;
  vek_type: 'VCEK' | 'VLEK';
  product: string;
  verify_at: string;
  binding?: { nonce_hex: string; x25519_public_key_hex: string };
  expect: { trustee_result: string };
  fields: {
    version: number;
    vmpl: number;
    report_data: string;
    chip_id: string;
    trustee_claims: Record<string, unknown>;
  };
}

const expected = JSON.parse(readFileSync(vector('tee', 'expected.json'), 'utf8'));
const cases: SnpCase[] = expected.snp;
const read = (rel: string) => new Uint8Array(readFileSync(vector('tee', rel)));
const vekOf = (c: SnpCase) => read(c.vek);
const at = (c: SnpCase) => new Date(c.verify_at);
/** Lets every sample through the version and VMPL policy, to reach the other checks. */
const permissive: SnpVerifierOptions = { minVersion: 2, allowedVmpls: [0, 1, 2, 3] };

async function rejects(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof AttestationError, `expected AttestationError, got ${String(e)}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    if (message) assert.match(e.message, message);
    return true;
  });
}

/** Upstream's outcome, from the case's fields (version 3..5, VMPL 0). */
function upstreamOutcome(c: SnpCase): 'accept' | 'VERSION_NOT_ALLOWED' | 'VMPL_NOT_ALLOWED' {
  if (c.fields.version < 3) return 'VERSION_NOT_ALLOWED';
  if (c.fields.vmpl !== 0) return 'VMPL_NOT_ALLOWED';
  return 'accept';
}

/** Each way a case can be presented: its Trustee JSON, and its raw report with the VEK beside it. */
function forms(c: SnpCase): { name: string; evidence: unknown; ctx: SnpVerifyContext }[] {
  const out: { name: string; evidence: unknown; ctx: SnpVerifyContext }[] = [
    { name: 'raw report + VEK', evidence: read(c.report), ctx: { now: at(c), vek: vekOf(c) } },
  ];
  if (c.evidence_json) {
    const text = readFileSync(vector('tee', c.evidence_json), 'utf8');
    out.push({ name: 'Trustee JSON object', evidence: JSON.parse(text), ctx: { now: at(c) } });
    out.push({ name: 'Trustee JSON bytes', evidence: new TextEncoder().encode(text), ctx: { now: at(c) } });
  }
  return out;
}

describe('SNP samples at their verification instant', () => {
  for (const c of cases) {
    for (const f of forms(c)) {
      test(`${c.id} (${f.name}): ${c.expect.trustee_result.slice(0, 60)}`, async () => {
        const outcome = upstreamOutcome(c);
        assert.match(c.expect.trustee_result, outcome === 'accept' ? /^accept/ : /^reject/);
        if (outcome === 'accept') {
          const claims = await verifySnpEvidence(f.evidence, f.ctx);
          assert.deepEqual(claims, c.fields.trustee_claims);
        } else {
          await rejects(verifySnpEvidence(f.evidence, f.ctx), outcome);
        }
        // With the policy relaxed, every sample verifies and yields upstream's claims.
        const r = await verifySnpEvidenceDetailed(f.evidence, f.ctx, permissive);
        assert.deepEqual(r.claims, c.fields.trustee_claims);
        assert.equal(r.vekKind, c.vek_type);
        assert.equal(r.product, c.product);
        assert.equal(r.version, c.fields.version);
      });
    }
  }

  test('the x25519 sample carries its published binding', async () => {
    const c = cases.find((x) => x.binding)!;
    const digest = createHash('sha512')
      .update(Buffer.from(c.binding!.nonce_hex, 'hex'))
      .update(Buffer.from(c.binding!.x25519_public_key_hex, 'hex'))
      .digest();
    const ctx = { now: at(c), vek: vekOf(c) };
    await verifySnpEvidence(read(c.report), { ...ctx, expectedReportData: digest }, { allowedVmpls: [1] });
    digest[0] ^= 1;
    await rejects(
      verifySnpEvidence(read(c.report), { ...ctx, expectedReportData: digest }, { allowedVmpls: [1] }),
      'REPORT_DATA_MISMATCH',
    );
  });
});

describe('wall clock', () => {
  for (const c of cases) {
    test(`${c.id} at the wall clock`, async () => {
      const vek = certFromBytes(vekOf(c), c.vek);
      const now = new Date();
      const ctx = { vek: vekOf(c) }; // no `now`: the verifier uses the wall clock
      if (now > vek.notAfter) {
        await rejects(verifySnpEvidence(read(c.report), ctx, permissive), 'CERT_EXPIRED', /not valid at/);
      } else {
        await verifySnpEvidence(read(c.report), ctx, permissive);
      }
    });
  }

  test('the VLEK sample (valid to 2025-12-10) is expired today', async () => {
    const c = cases.find((x) => x.vek_type === 'VLEK')!;
    assert.ok(Date.now() > Date.parse('2025-12-10T22:14:21Z'), 'this test assumes a clock after 2025-12-10');
    await rejects(verifySnpEvidence(read(c.report), { vek: vekOf(c) }, permissive), 'CERT_EXPIRED');
  });

  test('before the certificates were issued every sample fails as not yet valid', async () => {
    for (const c of cases) {
      const ctx = { now: new Date('2020-01-01T00:00:00Z'), vek: vekOf(c) };
      await rejects(verifySnpEvidence(read(c.report), ctx, permissive), 'CERT_EXPIRED');
    }
  });
});

function flipped(bytes: Uint8Array, offset: number, mask = 0x01): Uint8Array {
  const out = Uint8Array.from(bytes);
  out[offset] ^= mask;
  return out;
}

describe('mutations are rejected with the right code', () => {
  // Offsets inside the signed body whose change is caught by the signature (fields checked earlier,
  // such as VERSION or CPUID, fail earlier by design).
  const bodyOffsets = [
    ['byte 42 (upstream recipe)', 42],
    ['GUEST_SVN', 0x04],
    ['POLICY', 0x08],
    ['VMPL', 0x30],
    ['REPORT_DATA', 0x50],
    ['MEASUREMENT', 0x90],
    ['HOST_DATA', 0xc0],
    ['REPORTED_TCB boot loader (upstream recipe)', 0x180],
    ['CHIP_ID', 0x1a0],
    ['COMMITTED version', 0x1ec],
    ['last signed byte', 0x29f],
  ] as const;

  for (const c of cases) {
    test(`${c.id}: a flipped bit in the signed body`, async () => {
      for (const [name, offset] of bodyOffsets) {
        const ctx = { now: at(c), vek: vekOf(c) };
        await rejects(
          verifySnpEvidence(flipped(read(c.report), offset), ctx, permissive),
          'SIGNATURE_INVALID',
          undefined,
        ).catch((e) => assert.fail(`${name} (0x${offset.toString(16)}): ${e.message}`));
      }
    });

    test(`${c.id}: a flipped bit in the signature`, async () => {
      const ctx = { now: at(c), vek: vekOf(c) };
      for (const offset of [0x2a0, 0x2a0 + 47, 0x2e8, 0x2e8 + 20]) {
        await rejects(
          verifySnpEvidence(flipped(read(c.report), offset), ctx, permissive),
          'SIGNATURE_INVALID',
        );
      }
      // Bytes 48..71 of r and s must be zero for P-384.
      await rejects(
        verifySnpEvidence(flipped(read(c.report), 0x2a0 + 60), ctx, permissive),
        'SIGNATURE_INVALID',
        /exceeds 384 bits/,
      );
    });

    test(`${c.id}: a flipped bit in the VEK certificate`, async () => {
      const der = certFromBytes(vekOf(c), c.vek).der;
      const hwId = Buffer.from(c.fields.chip_id, 'hex');
      const positions = [
        15, // serial number
        Math.floor(der.length / 2), // inside the extensions / key
        der.length - 10, // the issuer's signature
      ];
      const hwAt = der.indexOf(hwId.subarray(0, 16));
      if (hwAt > 0 && c.vek_type === 'VCEK') positions.push(hwAt + 3);
      for (const p of positions) {
        const ctx = { now: at(c), vek: flipped(der, p, 0x10) };
        await rejects(verifySnpEvidence(read(c.report), ctx, permissive), 'CHAIN_INVALID');
      }
    });
  }

  test('JSON evidence: a changed report field or certificate byte', async () => {
    for (const c of cases.filter((x) => x.evidence_json)) {
      const base = JSON.parse(readFileSync(vector('tee', c.evidence_json!), 'utf8'));
      const m1 = structuredClone(base);
      m1.attestation_report.measurement[0] ^= 1;
      await rejects(verifySnpEvidence(m1, { now: at(c) }, permissive), 'SIGNATURE_INVALID');
      const m2 = structuredClone(base);
      m2.attestation_report.reported_tcb.microcode ^= 1;
      await rejects(verifySnpEvidence(m2, { now: at(c) }, permissive), 'SIGNATURE_INVALID');
      const m3 = structuredClone(base);
      m3.cert_chain[0].data[20] ^= 1;
      await rejects(verifySnpEvidence(m3, { now: at(c) }, permissive), 'CHAIN_INVALID');
    }
  });

  test('a VCEK swapped in from another sample', async () => {
    const byId = (id: string) => cases.find((c) => c.id === id)!;
    const v5 = byId('milan-v5-vcek-gcp/vmpl0');
    const v2 = byId('milan-v2-vcek');
    const genoa = byId('genoa-v3-vcek');
    const now = new Date('2026-01-01T00:00:00Z');
    // Same product: the chain holds, the report signature does not.
    await rejects(
      verifySnpEvidence(read(v5.report), { now, vek: vekOf(v2) }, permissive),
      'SIGNATURE_INVALID',
    );
    await rejects(
      verifySnpEvidence(read(v2.report), { now, vek: vekOf(v5) }, permissive),
      'SIGNATURE_INVALID',
    );
    // Another product: refused before any signature is checked.
    await rejects(
      verifySnpEvidence(read(genoa.report), { now, vek: vekOf(v5) }, permissive),
      'CHAIN_INVALID',
      /for Milan, but the report comes from Genoa/,
    );
    await rejects(
      verifySnpEvidence(read(v5.report), { now, vek: vekOf(genoa) }, permissive),
      'CHAIN_INVALID',
    );
    // The Genoa JSON with the Milan VCEK in cert_chain.
    const json = JSON.parse(readFileSync(vector('tee', genoa.evidence_json!), 'utf8'));
    json.cert_chain[0].data = Array.from(certFromBytes(vekOf(v5), 'vcek').der);
    await rejects(verifySnpEvidence(json, { now }, permissive), 'CHAIN_INVALID');
  });

  test('a VCEK given for a VLEK-signed report', async () => {
    const vlek = cases.find((c) => c.vek_type === 'VLEK')!;
    const vcek = cases.find((c) => c.id === 'milan-v5-vcek-gcp/vmpl0')!;
    await rejects(
      verifySnpEvidence(read(vlek.report), { now: at(vcek), vek: vekOf(vcek) }, permissive),
      'CHAIN_INVALID',
      /signed with the VLEK, but the certificate is a VCEK/,
    );
  });

  test('a report claiming to be unsigned or signed with another algorithm', async () => {
    const c = cases[0];
    const ctx = { now: at(c), vek: vekOf(c) };
    const algo = Uint8Array.from(read(c.report));
    algo[0x34] = 2;
    await rejects(verifySnpEvidence(algo, ctx), 'SIGNATURE_INVALID', /SIGNATURE_ALGO 2/);
    const none = Uint8Array.from(read(c.report));
    none[0x48] = 7 << 2;
    await rejects(verifySnpEvidence(none, ctx), 'SIGNATURE_INVALID', /SIGNING_KEY = 7/);
    const masked = Uint8Array.from(read(c.report));
    masked[0x48] = 0x2;
    await rejects(verifySnpEvidence(masked, ctx), 'SIGNATURE_INVALID', /MASK_CHIP_KEY/);
  });
});

describe('certificate chain', () => {
  const milanPem = readFileSync(vector('tee', 'snp', 'ca', 'milan_ask_ark_asvk.pem'), 'utf8');
  const [milanAsk, milanArk, milanAsvk] = pemBlocks(milanPem);
  const genoaArk = pemBlocks(readFileSync(vector('tee', 'snp', 'ca', 'genoa_ask_ark_asvk.pem'), 'utf8'))[1];
  const vlek = cases.find((c) => c.vek_type === 'VLEK')!;
  const vlekJson = () => JSON.parse(readFileSync(vector('tee', vlek.evidence_json!), 'utf8'));
  const opts = { allowedVmpls: [1] };

  test('a VLEK chains to the ASVK, given or pinned', async () => {
    await verifySnpEvidence(vlekJson(), { now: at(vlek) }, opts);
    const j = vlekJson();
    j.cert_chain.push({ cert_type: 'ASK', data: Array.from(milanAsvk) });
    j.cert_chain.push({ cert_type: 'ARK', data: Array.from(milanArk) });
    await verifySnpEvidence(j, { now: at(vlek) }, opts);
  });

  test('a VLEK with the ASK instead of the ASVK fails (upstream recipe)', async () => {
    const j = vlekJson();
    j.cert_chain.push({ cert_type: 'ASK', data: Array.from(milanAsk) });
    await rejects(
      verifySnpEvidence(j, { now: at(vlek) }, opts),
      'CHAIN_INVALID',
      /must chain to SEV-VLEK-Milan/,
    );
  });

  test('an ARK in cert_chain must verify under the pinned ARK', async () => {
    const j = vlekJson();
    j.cert_chain.push({ cert_type: 'ARK', data: Array.from(genoaArk) });
    await rejects(verifySnpEvidence(j, { now: at(vlek) }, opts), 'CHAIN_INVALID', /pinned ARK-Milan/);
  });

  test('an intermediate not signed by the pinned ARK fails', async () => {
    const genoaAsk = pemBlocks(readFileSync(vector('tee', 'snp', 'ca', 'genoa_ask_ark_asvk.pem'), 'utf8'))[0];
    const c = cases.find((x) => x.id === 'milan-v5-vcek-gcp/vmpl0')!;
    const j = JSON.parse(readFileSync(vector('tee', c.evidence_json!), 'utf8'));
    j.cert_chain.push({ cert_type: 'ASK', data: Array.from(genoaAsk) });
    await rejects(
      verifySnpEvidence(j, { now: at(c) }),
      'CHAIN_INVALID',
      /not signed by the pinned ARK-Milan/,
    );
  });

  test('a cert_chain entry labelled VCEK must hold a VCEK', async () => {
    const j = vlekJson();
    j.cert_chain[0].cert_type = 'VCEK';
    await rejects(
      verifySnpEvidence(j, { now: at(vlek) }, opts),
      'CHAIN_INVALID',
      /labelled VCEK but holds a VLEK/,
    );
  });

  test('roots are identified by CN: a Genoa file holding the Milan certificates is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snp-roots-'));
    try {
      writeFileSync(join(dir, 'genoa_ask_ark_asvk.pem'), milanPem);
      const genoa = cases.find((c) => c.id === 'genoa-v3-vcek')!;
      await rejects(
        verifySnpEvidence(read(genoa.report), { now: at(genoa), vek: vekOf(genoa) }, { rootsDir: dir }),
        'CHAIN_INVALID',
        /no certificate with CN=ARK-Genoa/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a Genoa VCEK does not verify against the Milan roots (upstream recipe)', async () => {
    const genoa = cases.find((c) => c.id === 'genoa-v3-vcek')!;
    await verifySnpVekChain(vekOf(genoa), { now: at(genoa) });
    await rejects(verifySnpVekChain(vekOf(genoa), { now: at(genoa), product: 'Milan' }), 'CHAIN_INVALID');
  });

  test('a product without shipped roots is reported as missing collateral', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snp-roots-'));
    try {
      copyFileSync(vector('tee', 'snp', 'ca', 'milan_ask_ark_asvk.pem'), join(dir, 'milan_ask_ark_asvk.pem'));
      const genoa = cases.find((c) => c.id === 'genoa-v3-vcek')!;
      await rejects(
        verifySnpEvidence(read(genoa.report), { now: at(genoa), vek: vekOf(genoa) }, { rootsDir: dir }),
        'COLLATERAL_MISSING',
        /no AMD roots for Genoa/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('Turin: the chain-only VCEK verifies against the shipped Turin roots', async () => {
    const t = expected.snp_chain_only[0];
    const bytes = read(t.vek);
    const { product, info } = await verifySnpVekChain(bytes, { now: new Date(t.verify_at) });
    assert.equal(product, 'Turin');
    const e = t.expect.vcek_extensions;
    assert.equal(info.structVersion, e.structVersion);
    assert.equal(info.productName, e.productName);
    assert.deepEqual(info.spl, {
      bootloader: e.blSPL,
      tee: e.teeSPL,
      snp: e.snpSPL,
      microcode: e.ucodeSPL,
      fmc: e.fmcSPL,
    });
    assert.equal(Buffer.from(info.hwId!).toString('hex'), e.hwID_hex);
    await rejects(
      verifySnpVekChain(bytes, { now: new Date(t.verify_at), product: 'Milan' }),
      'CHAIN_INVALID',
    );
  });
});

describe('report-data and init-data binding', () => {
  for (const c of cases) {
    test(`${c.id}: accepted with its own report data, rejected with any other`, async () => {
      const ctx = { now: at(c), vek: vekOf(c) };
      const own = Buffer.from(c.fields.report_data, 'hex');
      await verifySnpEvidence(read(c.report), { ...ctx, expectedReportData: own }, permissive);
      await rejects(
        verifySnpEvidence(read(c.report), { ...ctx, expectedReportData: flipped(own, 63) }, permissive),
        'REPORT_DATA_MISMATCH',
      );
      // A 48-byte (SHA-384) expectation is zero-padded to 64 before comparing.
      const short = own.subarray(0, 48);
      const outcome = own.subarray(48).every((b) => b === 0) ? 'accept' : 'REPORT_DATA_MISMATCH';
      const p = verifySnpEvidence(read(c.report), { ...ctx, expectedReportData: short }, permissive);
      if (outcome === 'accept') await p;
      else await rejects(p, outcome);
    });
  }

  test('a short expected value is zero-padded (go-sev-guest 0102030405 sample)', async () => {
    const c = cases.find((x) => x.id === 'milan-v2-vcek-reportdata')!;
    const ctx = { now: at(c), vek: vekOf(c), expectedReportData: Uint8Array.from([1, 2, 3, 4, 5]) };
    await verifySnpEvidence(read(c.report), ctx, permissive);
  });

  test('the KBS shape: a SHA-384 digest zero-padded to 64 bytes', async () => {
    const c = cases.find((x) => x.id === 'milan-v5-vcek-gcp/vmpl0')!; // REPORT_DATA is all zero
    const ctx = { now: at(c), vek: vekOf(c) };
    await verifySnpEvidence(read(c.report), { ...ctx, expectedReportData: new Uint8Array(48) });
    const rd = JSON.parse(readFileSync(vector('report-data.json'), 'utf8'));
    const digest = Buffer.from(rd.primary_no_additional_evidence.sha384_hex, 'hex');
    await rejects(
      verifySnpEvidence(read(c.report), { ...ctx, expectedReportData: digest }),
      'REPORT_DATA_MISMATCH',
    );
  });

  test('init-data digest against HOST_DATA (padded or truncated to 32 bytes)', async () => {
    const c = cases[0]; // HOST_DATA is all zero
    const ctx = { now: at(c), vek: vekOf(c) };
    await verifySnpEvidence(read(c.report), { ...ctx, expectedInitDataHash: new Uint8Array(32) });
    await verifySnpEvidence(read(c.report), { ...ctx, expectedInitDataHash: new Uint8Array(48) });
    // Only the first 32 bytes of a SHA-384 digest are compared.
    await verifySnpEvidence(read(c.report), {
      ...ctx,
      expectedInitDataHash: flipped(new Uint8Array(48), 40),
    });
    await rejects(
      verifySnpEvidence(read(c.report), { ...ctx, expectedInitDataHash: flipped(new Uint8Array(32), 31) }),
      'INIT_DATA_MISMATCH',
    );
  });
});

describe('policy knobs', () => {
  const v5 = cases.find((c) => c.id === 'milan-v5-vcek-gcp/vmpl0')!;
  const genoa = cases.find((c) => c.id === 'genoa-v3-vcek')!;
  const ctx = (c: SnpCase) => ({ now: at(c), vek: vekOf(c) });

  test('minVersion', async () => {
    await rejects(
      verifySnpEvidence(read(genoa.report), ctx(genoa), { minVersion: 4 }),
      'VERSION_NOT_ALLOWED',
      /below the minimum 4/,
    );
    await verifySnpEvidence(read(v5.report), ctx(v5), { minVersion: 5 });
    const v6 = Uint8Array.from(read(v5.report));
    v6[0] = 6;
    await rejects(verifySnpEvidence(v6, ctx(v5), permissive), 'VERSION_NOT_ALLOWED', /newer than/);
    const v1 = Uint8Array.from(read(v5.report));
    v1[0] = 1;
    await rejects(verifySnpEvidence(v1, ctx(v5), permissive), 'VERSION_NOT_ALLOWED', /invalid/);
  });

  test('the version is judged before the product, as upstream does', async () => {
    const unknownCpu = Uint8Array.from(read(genoa.report));
    unknownCpu[0x188] = 0x17;
    await rejects(verifySnpEvidence(unknownCpu, ctx(genoa)), 'TEE_UNSUPPORTED', /family 0x17/);
    unknownCpu[0] = 6;
    await rejects(verifySnpEvidence(unknownCpu, ctx(genoa)), 'VERSION_NOT_ALLOWED');
    const v2 = cases.find((c) => c.id === 'milan-v2-vcek')!;
    const masked = Uint8Array.from(read(v2.report));
    masked.fill(0, 0x1a0, 0x1e0);
    await rejects(verifySnpEvidence(masked, ctx(v2)), 'VERSION_NOT_ALLOWED');
    await rejects(verifySnpEvidence(masked, ctx(v2), permissive), 'EVIDENCE_MALFORMED', /masked/);
  });

  test('allowedVmpls', async () => {
    await rejects(
      verifySnpEvidence(read(v5.report), ctx(v5), { allowedVmpls: [1] }),
      'VMPL_NOT_ALLOWED',
      /VMPL 0/,
    );
    const vmpl1 = cases.find((c) => c.id === 'milan-v5-vcek-gcp/vmpl1')!;
    await verifySnpEvidence(read(vmpl1.report), ctx(vmpl1), { allowedVmpls: [0, 1] });
  });

  test('bad settings are refused when the verifier is built', () => {
    for (const minVersion of [1, 6, 2.5]) {
      assert.throws(() => new SnpVerifier({ minVersion }), { code: 'VERSION_NOT_ALLOWED' });
    }
    for (const allowedVmpls of [[], [4], [-1]]) {
      assert.throws(() => new SnpVerifier({ allowedVmpls }), { code: 'VMPL_NOT_ALLOWED' });
    }
  });

  test('SnpVerifier implements Verifier', async () => {
    const v = new SnpVerifier();
    assert.equal(v.tee, 'snp');
    await v.ready();
    const json = JSON.parse(readFileSync(vector('tee', genoa.evidence_json!), 'utf8'));
    assert.deepEqual(await v.verify(json, { now: at(genoa) }), genoa.fields.trustee_claims);
  });
});

describe('evidence parsing', () => {
  const genoa = cases.find((c) => c.id === 'genoa-v3-vcek')!;
  const json = () => JSON.parse(readFileSync(vector('tee', genoa.evidence_json!), 'utf8'));

  test('malformed evidence names the problem', async () => {
    const now = at(genoa);
    await rejects(verifySnpEvidence(new Uint8Array(100), { now }), 'EVIDENCE_MALFORMED', /neither JSON nor/);
    await rejects(
      verifySnpEvidence('{"attestation_report":', { now }),
      'EVIDENCE_MALFORMED',
      /not valid JSON/,
    );
    await rejects(verifySnpEvidence(42, { now }), 'EVIDENCE_MALFORMED');
    const missing = json();
    delete missing.attestation_report.measurement;
    await rejects(verifySnpEvidence(missing, { now }), 'EVIDENCE_MALFORMED', /measurement is missing/);
    const short = json();
    short.attestation_report.chip_id.pop();
    await rejects(verifySnpEvidence(short, { now }), 'EVIDENCE_MALFORMED', /chip_id has 63 bytes/);
    const notByte = json();
    notByte.attestation_report.report_data[3] = 256;
    await rejects(verifySnpEvidence(notByte, { now }), 'EVIDENCE_MALFORMED', /report_data\[3\]/);
    const huge = json();
    huge.attestation_report.policy = 2 ** 60;
    await rejects(verifySnpEvidence(huge, { now }), 'EVIDENCE_MALFORMED', /policy is too large/);
    const badType = json();
    badType.cert_chain[0].cert_type = 'PEK';
    await rejects(verifySnpEvidence(badType, { now }), 'EVIDENCE_MALFORMED', /cert_type/);
  });

  test('BigInt integers (from a lossless JSON parser) are accepted', async () => {
    const j = json();
    j.attestation_report.policy = BigInt(j.attestation_report.policy);
    assert.deepEqual(await verifySnpEvidence(j, { now: at(genoa) }), genoa.fields.trustee_claims);
  });

  test('unknown keys are ignored; a null or missing cert_chain needs another VEK source', async () => {
    const j = json();
    j.extra = true;
    j.attestation_report.extra = [1, 2];
    await verifySnpEvidence(j, { now: at(genoa) });
    const noChain = json();
    noChain.cert_chain = null;
    assert.equal(parseSnpEvidence(noChain).certChain, null);
    await rejects(
      verifySnpEvidence(noChain, { now: at(genoa) }),
      'COLLATERAL_MISSING',
      /neither a VCEK cache nor a KDS URL/,
    );
  });
});

describe('VCEK sources: cache directory and KDS', () => {
  const c = cases.find((x) => x.id === 'milan-v5-vcek-gcp/vmpl0')!;
  const report = read(c.report);
  const vcekDer = certFromBytes(vekOf(c), c.vek).der;
  const decoded = decodeReport(report);
  const req = { product: 'Milan' as const, chipId: decoded.chipId, tcb: decoded.reportedTcb };
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'snp-vcek-'));
    dirs.push(d);
    return d;
  };
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  test('the KDS path follows AMD KDS (two-digit SPLs, hwID hex)', () => {
    assert.equal(
      kdsVcekPath(req),
      `/vcek/v1/Milan/${c.fields.chip_id}?blSPL=04&teeSPL=00&snpSPL=27&ucodeSPL=222`,
    );
    assert.equal(
      kdsVcekPath({
        product: 'Turin',
        chipId: Buffer.from('1e550a8ee5cf9f4d'.padEnd(128, '0'), 'hex'),
        tcb: { fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 },
      }),
      '/vcek/v1/Turin/1e550a8ee5cf9f4d?fmcSPL=01&blSPL=02&teeSPL=03&snpSPL=04&ucodeSPL=05',
    );
  });

  test('no source configured: the verifier says so', async () => {
    await rejects(verifySnpEvidence(report, { now: at(c) }), 'COLLATERAL_MISSING');
  });

  test('Trustee offline-store layout, specific file then vcek.der', async () => {
    const dir = tempDir();
    const chipDir = join(dir, 'vcek', c.fields.chip_id);
    mkdirSync(chipDir, { recursive: true });
    writeFileSync(join(chipDir, 'vcek.der'), vcekDer);
    const r = await verifySnpEvidenceDetailed(report, { now: at(c) }, { vcekCacheDir: dir });
    assert.equal(r.vekSource, join(chipDir, 'vcek.der'));
    writeFileSync(join(chipDir, 'bl04_tee00_snp27_ucode222_vcek.der'), vcekDer);
    const r2 = await verifySnpEvidenceDetailed(report, { now: at(c) }, { vcekCacheDir: dir });
    assert.equal(r2.vekSource, join(chipDir, 'bl04_tee00_snp27_ucode222_vcek.der'));
  });

  test('KDS over loopback: fetched once, then remembered and written to the cache', async () => {
    clearVcekMemory();
    const paths: string[] = [];
    let body: Uint8Array = vcekDer;
    const server = createServer((rq, rs) => {
      paths.push(rq.url ?? '');
      if (rq.url === kdsVcekPath(req)) {
        rs.writeHead(200, { 'content-type': 'application/pkix-cert' }).end(body);
      } else rs.writeHead(404).end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const kdsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const cacheDir = tempDir();

      // A KDS answer that fails the chain check is neither remembered nor cached.
      body = flipped(vcekDer, 15, 0x10);
      await rejects(
        verifySnpEvidence(report, { now: at(c) }, { kdsUrl, vcekCacheDir: cacheDir }),
        'CHAIN_INVALID',
      );
      body = vcekDer;

      const r = await verifySnpEvidenceDetailed(report, { now: at(c) }, { kdsUrl, vcekCacheDir: cacheDir });
      assert.deepEqual(r.claims, c.fields.trustee_claims);
      assert.equal(r.vekSource, `${kdsUrl.replace(/\/$/, '')}${kdsVcekPath(req)}`);
      assert.equal(paths.length, 2);
      const cached = join(cacheDir, 'vcek', c.fields.chip_id, 'bl04_tee00_snp27_ucode222_vcek.der');
      assert.deepEqual(readFileSync(cached), vcekDer);

      await verifySnpEvidence(report, { now: at(c) }, { kdsUrl });
      assert.equal(paths.length, 2, 'the verified VCEK is remembered');

      clearVcekMemory();
      const other = flipped(report, 0x1a0 + 5); // another chip: KDS has no VCEK for it
      await rejects(verifySnpEvidence(other, { now: at(c) }, { kdsUrl }), 'COLLATERAL_MISSING', /HTTP 404/);
    } finally {
      server.close();
      clearVcekMemory();
    }
  });

  test('a v2 report (no CPUID) is looked up as Milan, then Genoa', async () => {
    clearVcekMemory();
    const v2 = cases.find((x) => x.id === 'milan-v2-vcek')!;
    const v2Der = certFromBytes(vekOf(v2), v2.vek).der;
    const paths: string[] = [];
    const server = createServer((rq, rs) => {
      paths.push(rq.url ?? '');
      if (rq.url?.startsWith('/vcek/v1/Genoa/')) rs.writeHead(200).end(v2Der);
      else rs.writeHead(404).end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const kdsUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const r = await verifySnpEvidenceDetailed(read(v2.report), { now: at(v2) }, { minVersion: 2, kdsUrl });
      assert.equal(r.product, 'Milan'); // decided by the VCEK's chain, not by the URL that served it
      assert.deepEqual(
        paths.map((p) => p.split('/')[3]),
        ['Milan', 'Genoa'],
      );
    } finally {
      server.close();
      clearVcekMemory();
    }
  });

  test('a KDS that cannot be reached fails as missing collateral', async () => {
    clearVcekMemory();
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    server.close();
    await once(server, 'close');
    await rejects(
      verifySnpEvidence(report, { now: at(c) }, { kdsUrl: `http://127.0.0.1:${port}` }),
      'COLLATERAL_MISSING',
      /cannot fetch/,
    );
    await rejects(
      verifySnpEvidence(report, { now: at(c) }, { kdsUrl: 'file:///etc' }),
      'COLLATERAL_MISSING',
      /http/,
    );
  });

  test('a VLEK-signed report without its VLEK cannot be completed from KDS', async () => {
    const v = cases.find((x) => x.vek_type === 'VLEK')!;
    await rejects(
      verifySnpEvidence(read(v.report), { now: at(v) }, { ...permissive, kdsUrl: 'http://127.0.0.1:9' }),
      'COLLATERAL_MISSING',
      /VLEK/,
    );
  });
});

test('warm verification reuses parsed certificates and verified chains', async () => {
  // Count certificate signature checks and parses: a warm verification needs none of them,
  // only the report's own ECDSA signature.
  const c = cases.find((x) => x.id === 'genoa-v3-vcek')!;
  const json = JSON.parse(readFileSync(vector('tee', c.evidence_json!), 'utf8'));
  const proto = X509Certificate.prototype;
  const original = proto.verify;
  let certVerifies = 0;
  proto.verify = function (this: X509Certificate, key) {
    certVerifies++;
    return original.call(this, key);
  };
  try {
    await new SnpVerifier().ready(); // the pinned ARK → ASK/ASVK signatures are checked once, here
    clearCertCaches();
    certVerifies = 0;
    await verifySnpEvidence(json, { now: at(c) });
    assert.equal(certVerifies, 1, 'cold: only the VCEK is checked against the pinned ASK');
    certVerifies = 0;
    for (let i = 0; i < 3; i++) await verifySnpEvidence(json, { now: at(c) });
    assert.equal(certVerifies, 0, 'warm: no certificate signature is checked again');
  } finally {
    proto.verify = original;
  }
});
