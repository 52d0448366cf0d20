import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildCertTable, guidToBytes, parseCertTable } from './cert-table.js';

const der = (n: number, fill: number) => new Uint8Array(n).fill(fill);

test('a table round-trips, in order, with every known type and an unknown GUID', () => {
  const entries = [
    { certType: 'VCEK' as const, data: der(10, 1) },
    { certType: 'ASK' as const, data: der(7, 2) },
    { certType: 'ARK' as const, data: der(5, 3) },
    { certType: 'VLEK' as const, data: der(3, 4) },
    { certType: 'CRL' as const, data: der(2, 5) },
    { certType: { OTHER: '01234567-89ab-cdef-0123-456789abcdef' }, data: der(1, 6) },
  ];
  assert.deepEqual(parseCertTable(buildCertTable(entries)), entries);
});

test('the VCEK GUID is written in RFC 4122 byte order', () => {
  const table = buildCertTable([{ certType: 'VCEK', data: der(1, 0) }]);
  assert.equal(Buffer.from(table.subarray(0, 16)).toString('hex'), '63da758de6644564adc5f4b93be8accd');
});

test('the mixed-endian (EFI) spelling of a known GUID is recognised', () => {
  const table = Buffer.from(buildCertTable([{ certType: 'VCEK', data: der(4, 9) }]));
  table.set(guidToBytes('8d75da63-64e6-6445-adc5-f4b93be8accd'), 0);
  assert.equal(parseCertTable(table)[0].certType, 'VCEK');
});

test('an empty table (terminator only) has no entries', () => {
  assert.deepEqual(parseCertTable(new Uint8Array(24)), []);
});

test('malformed tables are refused', () => {
  const good = Buffer.from(buildCertTable([{ certType: 'VCEK', data: der(4, 9) }]));
  const unterminated = Buffer.from(good.subarray(0, 24));
  unterminated.writeUInt32LE(0, 16); // the entry's data lies inside the table itself
  assert.throws(() => parseCertTable(unterminated), { code: 'EVIDENCE_MALFORMED', message: /terminating/ });
  const outside = Buffer.from(good);
  outside.writeUInt32LE(1000, 20);
  assert.throws(() => parseCertTable(outside), { code: 'EVIDENCE_MALFORMED', message: /outside/ });
  assert.throws(() => parseCertTable(new Uint8Array(0)), { code: 'EVIDENCE_MALFORMED' });
});
