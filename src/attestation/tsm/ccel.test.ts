import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { vector } from '../../../test/helpers/paths.js';
import { ccelLogLength, parseCcelTable } from './ccel.js';

const table = new Uint8Array(readFileSync(vector('tee', 'tdx', 'gcp-v4-eventlog', 'ccel_table.bin')));
const area = new Uint8Array(readFileSync(vector('tee', 'tdx', 'gcp-v4-eventlog', 'ccel_data.bin')));

test('the CCEL ACPI table of the GCP sample', () => {
  const t = parseCcelTable(table);
  assert.equal(t.ccType, 2); // TDX
  assert.equal(t.laml, BigInt(area.length));
});

test('a damaged CCEL table is refused', () => {
  const bad = Uint8Array.from(table);
  bad[20] ^= 1;
  assert.throws(() => parseCcelTable(bad), { code: 'ATTESTER_FAILED', message: /checksum/ });
  assert.throws(() => parseCcelTable(table.subarray(0, 40)), { code: 'ATTESTER_FAILED' });
  const sig = Uint8Array.from(table);
  sig[0] = 0x58;
  assert.throws(() => parseCcelTable(sig), { message: /signature/ });
});

test('the log ends after its last event (43 events, 18101 bytes, as the upstream attester trims it)', () => {
  assert.equal(ccelLogLength(area), 18101);
});

test('a log without an end marker, or cut inside an event, is refused', () => {
  assert.throws(() => ccelLogLength(area.subarray(0, 18101)), {
    code: 'ATTESTER_FAILED',
    message: /end marker/,
  });
  assert.throws(() => ccelLogLength(area.subarray(0, 5000)), { code: 'ATTESTER_FAILED' });
  const notSpecId = Uint8Array.from(area);
  notSpecId[4] = 1;
  assert.throws(() => ccelLogLength(notSpecId), { message: /Spec ID/ });
});
