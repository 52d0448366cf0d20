import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { vector } from '../../../test/helpers/paths.js';
import { attestationCode } from '../../../test/helpers/thrown.js';
import { parseQuote } from './quote.js';

interface Case {
  id: string;
  quote: string;
  fields: Record<string, string | number | boolean>;
}

const expected = JSON.parse(readFileSync(vector('tee', 'expected.json'), 'utf8')) as { tdx: Case[] };
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('TDX quote parsing', () => {
  for (const c of expected.tdx) {
    test(`${c.id}: fields match expected.json`, () => {
      const bytes = readFileSync(vector('tee', c.quote));
      const q = parseQuote(bytes);
      const f = c.fields;
      assert.equal(q.header.version, f.quote_version);
      assert.equal(q.bodyType, f.body_type);
      assert.equal(q.signedRegion.length, f.signed_length);
      assert.equal(q.end, f.quote_data_end);
      assert.equal(bytes.length - q.end, f.trailing_zero_bytes);
      assert.equal(hex(q.body.teeTcbSvn), f.tee_tcb_svn);
      assert.equal(hex(q.body.mrSeam), f.mr_seam);
      assert.equal(hex(q.body.mrTd), f.mr_td);
      assert.equal(hex(q.body.mrConfigId), f.mr_config_id);
      for (const [i, r] of q.body.rtmr.entries()) assert.equal(hex(r), f[`rtmr${i}`]);
      assert.equal(hex(q.body.reportData), f.report_data);
      assert.equal(hex(q.body.tdAttributes), f.td_attributes);
      assert.equal((q.body.tdAttributes[0] & 1) === 1, f.td_debug);
      assert.equal(hex(q.body.xfam), f.xfam);
      if (f.tee_tcb_svn2 !== undefined) assert.equal(hex(q.body.teeTcbSvn2!), f.tee_tcb_svn2);
      if (f.mr_servicetd !== undefined) assert.equal(hex(q.body.mrServiceTd!), f.mr_servicetd);
      assert.equal(q.qeReport.isvProdId, 2);
      assert.match(q.pckChainPem, /^-----BEGIN CERTIFICATE-----/);
      assert.equal(q.pckChainPem.match(/BEGIN CERTIFICATE/g)?.length, 3);
    });
  }

  const base = readFileSync(vector('tee', 'tdx', 'gotdx-v4-notsupported', 'quote.bin'));
  const mutate = (off: number, value: number) => {
    const b = Buffer.from(base);
    b[off] = value;
    return b;
  };

  test('version 3 (SGX) and unknown versions are refused', () => {
    assert.equal(
      attestationCode(() => parseQuote(mutate(0, 3))),
      'VERSION_NOT_ALLOWED',
    );
    assert.equal(
      attestationCode(() => parseQuote(mutate(0, 6))),
      'VERSION_NOT_ALLOWED',
    );
  });

  test('a non-TDX TEE type is refused', () => {
    assert.equal(
      attestationCode(() => parseQuote(mutate(4, 0))),
      'TEE_UNSUPPORTED',
    );
  });

  test('a wrong attestation key type is malformed', () => {
    assert.equal(
      attestationCode(() => parseQuote(mutate(2, 3))),
      'EVIDENCE_MALFORMED',
    );
  });

  test('a signature-data length that does not fit its contents is malformed (upstream offset 0x278)', () => {
    assert.equal(
      attestationCode(() => parseQuote(mutate(0x278, 0x10))),
      'EVIDENCE_MALFORMED',
    );
  });

  test('truncations anywhere are malformed, never a crash', () => {
    const q = parseQuote(base);
    for (const n of [0, 10, 47, 48, 300, 632, 635, 700, 1100, q.end - 1]) {
      assert.equal(
        attestationCode(() => parseQuote(base.subarray(0, n))),
        'EVIDENCE_MALFORMED',
        `length ${n}`,
      );
    }
  });

  test('a wrong certification data type is malformed', () => {
    const q = parseQuote(base);
    // certification data type follows the 128 bytes of signature and key after the 4-byte length.
    const off = q.signedRegion.length + 4 + 128;
    assert.equal(
      attestationCode(() => parseQuote(mutate(off, 5))),
      'EVIDENCE_MALFORMED',
    );
  });

  test('trailing bytes after the signature data are ignored', () => {
    const q = parseQuote(base);
    assert.equal(base.subarray(q.end).toString('latin1'), '\nextra bytes(only for testing purpose)\n');
    const q2 = parseQuote(base.subarray(0, q.end));
    assert.deepEqual(q2.signature, q.signature);
  });
});
