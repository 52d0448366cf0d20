import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { vector } from '../../../test/helpers/paths.js';
import { buildCertTable } from '../snp/cert-table.js';
import { certFromBytes } from '../snp/certs.js';
import { SnpVerifier } from '../snp/verify.js';
import { detectTsmAttester, TsmSnpAttester, TsmTdxAttester } from './attester.js';
import type { TsmFsOps } from './configfs.js';

/*
 * A fake configfs-tsm: a temp directory whose mkdir hook pre-places the attribute files a real
 * kernel would generate (provider, outblob, auxblob, generation) from the recorded samples, and
 * whose rmdir hook records what the attester wrote before removing the entry.
 */

interface FakeTsm {
  base: string;
  ops: TsmFsOps;
  /** Files written by the attester, per entry, captured at rmdir. */
  writes: Record<string, Buffer>[];
}

const temps: string[] = [];
after(() => {
  for (const d of temps) rmSync(d, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  temps.push(d);
  return d;
}

function fakeTsm(files: {
  provider: string;
  outblob?: Uint8Array;
  auxblob?: Uint8Array;
  generation?: string;
}): FakeTsm {
  const base = tempDir('tsm-');
  const writes: Record<string, Buffer>[] = [];
  const ops: TsmFsOps = {
    async mkdir(path) {
      await mkdir(path);
      await writeFile(join(path, 'provider'), `${files.provider}\n`);
      if (files.outblob) await writeFile(join(path, 'outblob'), files.outblob);
      if (files.auxblob) await writeFile(join(path, 'auxblob'), files.auxblob);
      await writeFile(join(path, 'generation'), files.generation ?? '1\n');
    },
    async rmdir(path) {
      const written: Record<string, Buffer> = {};
      for (const name of ['inblob', 'privlevel']) {
        try {
          written[name] = await readFile(join(path, name));
        } catch {}
      }
      writes.push(written);
      await rm(path, { recursive: true });
    },
  };
  return { base, ops, writes };
}

const read = (rel: string) => new Uint8Array(readFileSync(vector('tee', rel)));
const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

describe('SNP over configfs-tsm', () => {
  const v5Report = read('snp/milan-v5-vcek-gcp/report-vmpl0.bin');
  const v5Vcek = certFromBytes(read('snp/milan-v5-vcek-gcp/vcek.pem'), 'vcek').der;

  test('produces the Trustee SNP evidence JSON, byte-identical to the sample, that our verifier accepts', async () => {
    const fake = fakeTsm({
      provider: 'sev_guest',
      outblob: v5Report,
      auxblob: buildCertTable([{ certType: 'VCEK', data: v5Vcek }]),
    });
    const attester = new TsmSnpAttester({ base: fake.base, ops: fake.ops });
    const evidence = await attester.getEvidence(new Uint8Array(0));
    assert.equal(
      JSON.stringify(evidence),
      readFileSync(vector('tee', 'snp/milan-v5-vcek-gcp/evidence-vmpl0.json'), 'utf8').trimEnd(),
    );
    // The report data went out zero-padded to 64 bytes; the entry was removed afterwards.
    assert.deepEqual(fake.writes, [{ inblob: Buffer.alloc(64) }]);
    assert.deepEqual(readdirSync(fake.base), []);

    const claims = await new SnpVerifier().verify(evidence, {
      now: new Date('2026-01-01T00:00:00Z'),
      expectedReportData: new Uint8Array(48),
    });
    assert.equal(claims.reported_tcb_snp, 27);
  });

  test('a VLEK host: privlevel is written and generation counts both writes', async () => {
    const reportData = hex(
      '819770b7e6ea6df8dd8fd4dd146b073c0bf4f3ce5b0977ecac486e3a05ed1bd54e2a7ac1f5d1ca02e7d7d5ef9f73b8574fd9359e3a480d741a4478e8a7bc27ca',
    );
    const fake = fakeTsm({
      provider: 'sev_guest',
      outblob: read('snp/milan-v3-vlek/report.bin'),
      auxblob: buildCertTable([{ certType: 'VLEK', data: read('snp/milan-v3-vlek/vlek.der') }]),
      generation: '2\n',
    });
    const evidence = await new TsmSnpAttester({ base: fake.base, ops: fake.ops, privlevel: 1 }).getEvidence(
      reportData,
    );
    assert.equal(
      JSON.stringify(evidence),
      readFileSync(vector('tee', 'snp/milan-v3-vlek/evidence.json'), 'utf8').trimEnd(),
    );
    assert.equal(fake.writes[0].privlevel.toString(), '1\n');
    const claims = await new SnpVerifier({ allowedVmpls: [1] }).verify(evidence, {
      now: new Date('2025-06-01T00:00:00Z'),
      expectedReportData: reportData,
    });
    assert.equal(claims.reported_tcb_microcode, 217);
  });

  test('the Genoa sample: the produced report matches the upstream JSON', async () => {
    const upstream = JSON.parse(readFileSync(vector('tee', 'snp/genoa-v3-vcek/evidence.json'), 'utf8'));
    const fake = fakeTsm({
      provider: 'sev_guest',
      outblob: read('snp/genoa-v3-vcek/report.bin'),
      auxblob: buildCertTable([{ certType: 'VCEK', data: read('snp/genoa-v3-vcek/vcek.der') }]),
    });
    const evidence = await new TsmSnpAttester({ base: fake.base, ops: fake.ops }).getEvidence(
      Uint8Array.from(upstream.attestation_report.report_data),
    );
    // The upstream sample predates the v5 fields; a current attester writes them as null.
    assert.deepEqual(evidence, {
      ...upstream,
      attestation_report: {
        ...upstream.attestation_report,
        launch_mit_vector: null,
        current_mit_vector: null,
      },
    });
  });

  test('no certificates from the host: cert_chain is null', async () => {
    for (const auxblob of [undefined, new Uint8Array(0)]) {
      const fake = fakeTsm({ provider: 'sev_guest', outblob: v5Report, auxblob });
      const evidence = await new TsmSnpAttester({ base: fake.base, ops: fake.ops }).getEvidence(
        new Uint8Array(64),
      );
      assert.equal(evidence.cert_chain, null);
    }
  });

  test('failures are ATTESTER_FAILED and name the cause', async () => {
    const cases: [string, Parameters<typeof fakeTsm>[0], Uint8Array, RegExp][] = [
      [
        'race',
        { provider: 'sev_guest', outblob: v5Report, generation: '2\n' },
        new Uint8Array(64),
        /generation is 2/,
      ],
      ['provider', { provider: 'tdx_guest', outblob: v5Report }, new Uint8Array(64), /provider is tdx_guest/],
      [
        'short outblob',
        { provider: 'sev_guest', outblob: v5Report.subarray(0, 1000) },
        new Uint8Array(64),
        /1000 bytes/,
      ],
      [
        'other report data',
        { provider: 'sev_guest', outblob: v5Report },
        new Uint8Array(64).fill(1),
        /requested report data/,
      ],
      ['too long', { provider: 'sev_guest', outblob: v5Report }, new Uint8Array(65), /at most 64/],
      [
        'bad aux',
        { provider: 'sev_guest', outblob: v5Report, auxblob: new Uint8Array(30).fill(1) },
        new Uint8Array(64),
        /auxblob/,
      ],
      ['no outblob', { provider: 'sev_guest' }, new Uint8Array(64), /cannot read outblob/],
    ];
    for (const [name, files, reportData, message] of cases) {
      const fake = fakeTsm(files);
      await assert.rejects(
        new TsmSnpAttester({ base: fake.base, ops: fake.ops }).getEvidence(reportData),
        (e: Error) => {
          assert.equal((e as { code?: string }).code, 'ATTESTER_FAILED', name);
          assert.match(e.message, message, name);
          return true;
        },
      );
      assert.deepEqual(readdirSync(fake.base), [], `${name}: the entry is removed`);
    }
    assert.throws(() => new TsmSnpAttester({ privlevel: 4 }), { code: 'ATTESTER_FAILED' });
  });
});

describe('TDX over configfs-tsm', () => {
  const quote = read('tdx/gcp-v4-eventlog/quote.bin');

  test('produces {cc_eventlog, quote} equal to the derived sample', async () => {
    const acpi = tempDir('acpi-');
    mkdirSync(join(acpi, 'data'));
    writeFileSync(join(acpi, 'CCEL'), read('tdx/gcp-v4-eventlog/ccel_table.bin'));
    writeFileSync(join(acpi, 'data', 'CCEL'), read('tdx/gcp-v4-eventlog/ccel_data.bin'));
    const fake = fakeTsm({ provider: 'tdx_guest', outblob: quote });
    const attester = new TsmTdxAttester({ base: fake.base, ops: fake.ops, acpiTablesDir: acpi });
    const evidence = await attester.getEvidence(read('tdx/gcp-v4-eventlog/nonce.bin'));
    assert.deepEqual(Object.keys(evidence), ['cc_eventlog', 'quote']);
    assert.deepEqual(
      evidence,
      JSON.parse(readFileSync(vector('tee', 'tdx/gcp-v4-eventlog/evidence.json'), 'utf8')),
    );
    assert.deepEqual(new Uint8Array(Buffer.from(evidence.quote, 'base64')), quote);
    assert.deepEqual(fake.writes, [{ inblob: Buffer.alloc(64) }]);
  });

  test('without a CCEL the event log is null', async () => {
    const fake = fakeTsm({ provider: 'tdx_guest', outblob: quote });
    const evidence = await new TsmTdxAttester({
      base: fake.base,
      ops: fake.ops,
      acpiTablesDir: tempDir('acpi-'),
    }).getEvidence(new Uint8Array(32));
    assert.equal(evidence.cc_eventlog, null);
    assert.match(evidence.quote, /^[A-Za-z0-9+/]+=*$/);
  });

  test('a quote for other report data, or a raced entry, is refused', async () => {
    const fake = fakeTsm({ provider: 'tdx_guest', outblob: quote });
    const attester = new TsmTdxAttester({ base: fake.base, ops: fake.ops, acpiTablesDir: tempDir('acpi-') });
    await assert.rejects(attester.getEvidence(new Uint8Array([1])), {
      code: 'ATTESTER_FAILED',
      message: /report data/,
    });
    const raced = fakeTsm({ provider: 'tdx_guest', outblob: quote, generation: '3\n' });
    await assert.rejects(
      new TsmTdxAttester({ base: raced.base, ops: raced.ops }).getEvidence(new Uint8Array(64)),
      { code: 'ATTESTER_FAILED', message: /generation is 3/ },
    );
  });
});

describe('detectTsmAttester', () => {
  test('picks the attester from the provider', async () => {
    const snp = fakeTsm({ provider: 'sev_guest' });
    assert.ok((await detectTsmAttester({ base: snp.base, ops: snp.ops })) instanceof TsmSnpAttester);
    const tdx = fakeTsm({ provider: 'tdx_guest' });
    assert.equal((await detectTsmAttester({ base: tdx.base, ops: tdx.ops }))?.tee, 'tdx');
    const cca = fakeTsm({ provider: 'arm_cca_guest' });
    assert.equal(await detectTsmAttester({ base: cca.base, ops: cca.ops }), undefined);
    assert.deepEqual(readdirSync(snp.base), []);
  });

  test('no configfs-tsm: undefined', async () => {
    assert.equal(await detectTsmAttester({ base: join(tempDir('none-'), 'missing') }), undefined);
  });

  test('a configfs-tsm that cannot be used is an error, not "no TEE"', async () => {
    const base = tempDir('tsm-');
    const ops: TsmFsOps = {
      mkdir: async () => {
        throw Object.assign(new Error('denied'), { code: 'EACCES' });
      },
      rmdir: async () => undefined,
    };
    await assert.rejects(detectTsmAttester({ base, ops }), { code: 'ATTESTER_FAILED', message: /EACCES/ });
  });
});
