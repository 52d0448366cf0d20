import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { vector } from '../../../test/helpers/paths.js';
import { attestationCode } from '../../../test/helpers/thrown.js';
import type { AttestationError } from '../errors.js';
import { checkRtmrs, eventLogClaims, parseEventLog, replayRtmrs } from './eventlog.js';
import { parseQuote } from './quote.js';

const tdx = (...p: string[]) => vector('tee', 'tdx', ...p);

describe('CC event log', () => {
  const gcpLog = readFileSync(tdx('gcp-v4-eventlog', 'ccel_data.bin'));
  const gcpQuote = parseQuote(readFileSync(tdx('gcp-v4-eventlog', 'quote.bin')));

  test('gcp-v4-eventlog: 43 events replay to RTMR0..2 exactly, RTMR3 zero', () => {
    const entries = parseEventLog(gcpLog);
    assert.equal(entries.length, 43);
    const rtmrs = replayRtmrs(entries);
    for (const [i, r] of rtmrs.entries()) assert.deepEqual(r, Buffer.from(gcpQuote.body.rtmr[i]));
    assert.deepEqual(rtmrs[3], Buffer.alloc(48));
    checkRtmrs(entries, gcpQuote.body.rtmr);
  });

  test('the trimmed log of the Trustee evidence JSON (with FF end flag) replays the same', () => {
    const ev = JSON.parse(readFileSync(tdx('gcp-v4-eventlog', 'evidence.json'), 'utf8'));
    const trimmed = Buffer.from(ev.cc_eventlog, 'base64');
    assert.deepEqual(trimmed.subarray(-8), Buffer.alloc(8, 0xff));
    checkRtmrs(parseEventLog(trimmed), gcpQuote.body.rtmr);
  });

  test('a tampered digest is EVENT_LOG_MISMATCH naming the RTMR', () => {
    const entries = parseEventLog(gcpLog);
    const victim = entries.find((e) => e.index === 2)!;
    victim.digests[0].digest = Buffer.from(victim.digests[0].digest);
    victim.digests[0].digest[0] ^= 1;
    assert.throws(
      () => checkRtmrs(entries, gcpQuote.body.rtmr),
      (e: AttestationError) => {
        assert.equal(e.code, 'EVENT_LOG_MISMATCH');
        assert.match(e.message, /RTMR1/);
        return true;
      },
    );
  });

  test('a dropped event is EVENT_LOG_MISMATCH', () => {
    const entries = parseEventLog(gcpLog).filter((_, i) => i !== 40);
    assert.equal(
      attestationCode(() => checkRtmrs(entries, gcpQuote.body.rtmr)),
      'EVENT_LOG_MISMATCH',
    );
  });

  test('trustee-v4-debug: claims equal the upstream uefi_event_logs, but the log does not replay to its quote', () => {
    const entries = parseEventLog(readFileSync(tdx('trustee-v4-debug', 'ccel_data.bin')));
    const expected = JSON.parse(readFileSync(tdx('trustee-v4-debug', 'expected_claims.json'), 'utf8'));
    assert.deepEqual(eventLogClaims(entries), expected.uefi_event_logs);
    const quote = parseQuote(readFileSync(tdx('trustee-v4-debug', 'quote.bin')));
    assert.equal(
      attestationCode(() => checkRtmrs(entries, quote.body.rtmr)),
      'EVENT_LOG_MISMATCH',
    );
  });

  test('gcp claims: typed details for EFI variables, device paths and IPL strings', () => {
    const claims = eventLogClaims(parseEventLog(gcpLog));
    const sb = claims.find((c) => (c.details as { unicode_name?: string }).unicode_name === 'SecureBoot');
    assert.deepEqual(sb?.details, {
      unicode_name: 'SecureBoot',
      unicode_name_length: 10,
      variable_data: 'AA==',
      variable_data_length: 1,
      variable_name: '61dfe48b-ca93-d211-aa0d-00e098032b8c',
    });
    assert.equal(sb?.digest_matches_event, true);
    const app = claims.find((c) => c.type_name === 'EV_EFI_BOOT_SERVICES_APPLICATION');
    assert.deepEqual(
      (app?.details as { device_paths?: string[] } | undefined)?.device_paths?.at(-1),
      'File(\\EFI\\BOOT\\BOOTX64.EFI)',
    );
    assert.ok(
      claims.some(
        (c) => c.type_name === 'EV_IPL' && (c.details as { string: string }).string === '/efi/boot/grub.cfg',
      ),
    );
  });

  test('malformed logs are EVIDENCE_MALFORMED', () => {
    assert.equal(
      attestationCode(() => parseEventLog(Buffer.alloc(10))),
      'EVIDENCE_MALFORMED',
    );
    assert.equal(
      attestationCode(() => parseEventLog(gcpLog.subarray(0, 40))),
      'EVIDENCE_MALFORMED',
    );
    // Cut inside the 10th event.
    const entries = parseEventLog(gcpLog);
    let off = 0;
    const specSize = gcpLog.readUInt32LE(28);
    off = 32 + specSize;
    for (let i = 0; i < 9; i++)
      off += 12 + 2 + entries[i].digests[0].digest.length + 4 + entries[i].data.length;
    assert.equal(
      attestationCode(() => parseEventLog(gcpLog.subarray(0, off + 20))),
      'EVIDENCE_MALFORMED',
    );
    // An undeclared event type.
    const bad = Buffer.from(gcpLog);
    bad.writeUInt32LE(0x7777, 32 + specSize + 4);
    assert.equal(
      attestationCode(() => parseEventLog(bad)),
      'EVIDENCE_MALFORMED',
    );
  });
});
