import { createHash } from 'node:crypto';
import { AttestationError } from '../errors.js';

/*
 * The TDX CC event log (CCEL, tee-evidence.md §2.9): a TCG2 crypto-agile log whose MR index counts
 * 1 = RTMR0 … 4 = RTMR3. `parseEventLog` reads it; `replayRtmrs` recomputes the RTMRs; `eventLogClaims`
 * renders the entries the way Trustee's `uefi_event_logs` claim does (same keys, same per-type
 * `details`), so policies written for Trustee read them unchanged.
 */

export interface EventDigest {
  algId: number;
  digest: Buffer;
}

export interface EventLogEntry {
  /** MR index as logged: 1..4 are RTMR0..3. */
  index: number;
  type: number;
  digests: EventDigest[];
  data: Buffer;
}

const ALG_NAMES: Record<number, string> = {
  1: 'RSA',
  3: 'TDES',
  4: 'SHA-1',
  11: 'SHA-256',
  12: 'SHA-384',
  13: 'SHA-512',
};

const ALG_HASH: Record<number, string> = { 4: 'sha1', 11: 'sha256', 12: 'sha384', 13: 'sha512' };
const TPM_ALG_SHA384 = 0xc;
const EV_NO_ACTION = 0x3;

const EVENT_TYPES: Record<number, string> = {
  0: 'EV_PREBOOT_CERT',
  1: 'EV_POST_CODE',
  2: 'EV_UNUSED',
  3: 'EV_NO_ACTION',
  4: 'EV_SEPARATOR',
  5: 'EV_ACTION',
  6: 'EV_EVENT_TAG',
  7: 'EV_S_CRTM_CONTENTS',
  8: 'EV_S_CRTM_VERSION',
  9: 'EV_CPU_MICROCODE',
  10: 'EV_PLATFORM_CONFIG_FLAGS',
  11: 'EV_TABLE_OF_DEVICES',
  12: 'EV_COMPACT_HASH',
  13: 'EV_IPL',
  14: 'EV_IPL_PARTITION_DATA',
  15: 'EV_NONHOST_CODE',
  16: 'EV_NONHOST_CONFIG',
  17: 'EV_NONHOST_INFO',
  18: 'EV_OMIT_BOOT_DEVICE_EVENTS',
  2147483648: 'EV_EFI_EVENT_BASE',
  2147483649: 'EV_EFI_VARIABLE_DRIVER_CONFIG',
  2147483650: 'EV_EFI_VARIABLE_BOOT',
  2147483651: 'EV_EFI_BOOT_SERVICES_APPLICATION',
  2147483652: 'EV_EFI_BOOT_SERVICES_DRIVER',
  2147483653: 'EV_EFI_RUNTIME_SERVICES_DRIVER',
  2147483654: 'EV_EFI_GPT_EVENT',
  2147483655: 'EV_EFI_ACTION',
  2147483656: 'EV_EFI_PLATFORM_FIRMWARE_BLOB',
  2147483657: 'EV_EFI_HANDOFF_TABLES',
  2147483658: 'EV_EFI_PLATFORM_FIRMWARE_BLOB2',
  2147483659: 'EV_EFI_HANDOFF_TABLES2',
  2147483660: 'EV_EFI_VARIABLE_BOOT2',
  2147483664: 'EV_EFI_HCRTM_EVENT',
  2147483872: 'EV_EFI_VARIABLE_AUTHORITY',
  2147483873: 'EV_EFI_SPDM_FIRMWARE_BLOB',
  2147483874: 'EV_EFI_SPDM_FIRMWARE_CONFIG',
};

function malformed(detail: string): AttestationError {
  return new AttestationError('EVIDENCE_MALFORMED', `TDX event log: ${detail}`);
}

class Cursor {
  pos = 0;
  constructor(readonly b: Buffer) {}
  need(n: number, what: string): void {
    if (n < 0 || this.pos + n > this.b.length)
      throw malformed(`${what} runs past the end (offset ${this.pos})`);
  }
  u8(what: string): number {
    this.need(1, what);
    return this.b[this.pos++];
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.b.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.b.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  bytes(n: number, what: string): Buffer {
    this.need(n, what);
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
}

function uniform(b: Buffer, v: number): boolean {
  for (const x of b) if (x !== v) return false;
  return true;
}

/**
 * Parses a CCEL (the firmware log, optionally followed by the attestation agent's entries). The
 * first record is the SHA-1-format TCG_EfiSpecIdEvent that declares the digest sizes; parsing
 * stops at an all-zero or all-FF 8-byte marker, or at the end of the data.
 */
export function parseEventLog(data: Uint8Array): EventLogEntry[] {
  const c = new Cursor(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  // TCG_PCR_EVENT: pcrIndex, eventType, SHA-1 digest (20), eventSize, event.
  c.u32('first event index');
  const firstType = c.u32('first event type');
  c.bytes(20, 'first event digest');
  const specSize = c.u32('first event size');
  const spec = new Cursor(c.bytes(specSize, 'TCG_EfiSpecIdEvent'));
  if (firstType !== EV_NO_ACTION) throw malformed('the first event is not the EV_NO_ACTION spec-ID event');
  const signature = spec.bytes(16, 'spec-ID signature');
  if (!signature.subarray(0, 15).equals(Buffer.from('Spec ID Event03'))) {
    throw malformed('the first event is not a crypto-agile "Spec ID Event03" header');
  }
  spec.bytes(8, 'spec-ID platform class and version');
  const algCount = spec.u32('algorithm count');
  const sizes = new Map<number, number>();
  for (let i = 0; i < algCount; i++) {
    const id = spec.u16('algorithm id');
    const size = spec.u16('digest size');
    if (!ALG_NAMES[id]) throw malformed(`unknown digest algorithm 0x${id.toString(16)}`);
    sizes.set(id, size);
  }
  const vendorSize = spec.u8('vendor info size');
  spec.bytes(vendorSize, 'vendor info');
  if (spec.pos !== specSize) throw malformed('spec-ID event size does not match its contents');

  const out: EventLogEntry[] = [];
  while (c.pos < c.b.length) {
    const rest = c.b.length - c.pos;
    const marker = c.b.subarray(c.pos, c.pos + Math.min(8, rest));
    if (uniform(marker, 0) || uniform(marker, 0xff)) break;
    const index = c.u32('MR index');
    const type = c.u32('event type');
    if (!EVENT_TYPES[type]) throw malformed(`unknown event type 0x${type.toString(16)}`);
    const count = c.u32('digest count');
    if (count > sizes.size) throw malformed(`event has ${count} digests, more than the declared algorithms`);
    const digests: EventDigest[] = [];
    for (let i = 0; i < count; i++) {
      const algId = c.u16('digest algorithm');
      const size = sizes.get(algId);
      if (size === undefined) throw malformed(`digest algorithm 0x${algId.toString(16)} was not declared`);
      digests.push({ algId, digest: c.bytes(size, 'digest') });
    }
    const size = c.u32('event size');
    out.push({ index, type, digests, data: c.bytes(size, 'event data') });
  }
  return out;
}

/**
 * RTMR0..3 recomputed from the log: each starts at 48 zero bytes and is extended with
 * `SHA-384(RTMR ‖ digest)` for every SHA-384 digest logged with MR index 1..4. EV_NO_ACTION events
 * are informational and never extended (TCG PC Client PFP §10.4.1).
 */
export function replayRtmrs(entries: EventLogEntry[]): Buffer[] {
  const rtmrs = [0, 1, 2, 3].map(() => Buffer.alloc(48));
  for (const e of entries) {
    if (e.type === EV_NO_ACTION || e.index < 1 || e.index > 4) continue;
    for (const d of e.digests) {
      if (d.algId !== TPM_ALG_SHA384) continue;
      const i = e.index - 1;
      rtmrs[i] = createHash('sha384').update(rtmrs[i]).update(d.digest).digest();
    }
  }
  return rtmrs;
}

/** Throws EVENT_LOG_MISMATCH unless the replayed log gives exactly the quote's RTMR0..3. */
export function checkRtmrs(entries: EventLogEntry[], rtmrs: readonly Uint8Array[]): void {
  const replayed = replayRtmrs(entries);
  for (let i = 0; i < 4; i++) {
    if (!replayed[i].equals(rtmrs[i])) {
      throw new AttestationError(
        'EVENT_LOG_MISMATCH',
        `TDX event log: replaying it gives RTMR${i} ${replayed[i].toString('hex')}, but the quote has ${Buffer.from(rtmrs[i]).toString('hex')}`,
      );
    }
  }
}

// ---- claims (Trustee `uefi_event_logs`) ----

export interface EventDetails {
  string?: string;
  unicode_name?: string;
  unicode_name_length?: number;
  variable_data?: string;
  variable_data_length?: number;
  variable_name?: string;
  device_paths?: string[];
  data?: Record<string, unknown>;
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 text, or "" when the bytes are not valid UTF-8 (the upstream parsers' fallback). */
function utf8OrEmpty(b: Uint8Array): string {
  try {
    return utf8Strict.decode(b);
  } catch {
    return '';
  }
}

function utf8OrThrow(b: Uint8Array): string {
  return utf8Strict.decode(b);
}

function utf16Units(b: Uint8Array): number[] {
  const units: number[] = [];
  for (let i = 0; i + 1 < b.length; i += 2) {
    const u = b[i] | (b[i + 1] << 8);
    if (u === 0) break;
    units.push(u);
  }
  return units;
}

function strictUtf16(units: number[]): string | undefined {
  for (let i = 0; i < units.length; i++) {
    const u = units[i];
    if (u >= 0xd800 && u <= 0xdbff) {
      const n = units[i + 1];
      if (n === undefined || n < 0xdc00 || n > 0xdfff) return undefined;
      i++;
    } else if (u >= 0xdc00 && u <= 0xdfff) return undefined;
  }
  return String.fromCharCode(...units);
}

/** UTF-16LE text when the bytes look like mostly printable text, else lower-case hex. */
function recoverString(b: Uint8Array): string {
  if (b.length >= 2 && b.length % 2 === 0) {
    const s = strictUtf16(utf16Units(b));
    if (s !== undefined) {
      const printable = [...s].filter((ch) => /^[\x21-\x7e\t\n\f\r ]$/.test(ch)).length;
      if (printable / Math.max(1, Buffer.byteLength(s, 'utf8')) > 0.9) return s;
    }
  }
  return Buffer.from(b).toString('hex');
}

function guidBytesHex(g: Uint8Array): string {
  const h = Buffer.from(g).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function efiVariable(d: Buffer): EventDetails {
  const c = new Cursor(d);
  const guid = c.bytes(16, 'variable GUID');
  c.need(16, 'variable lengths');
  const nameLen = Number(d.readBigUInt64LE(c.pos));
  const dataLen = Number(d.readBigUInt64LE(c.pos + 8));
  c.pos += 16;
  const name = utf8OrThrow(c.bytes(nameLen * 2, 'variable name')).replace(/\0/g, '');
  const value = dataLen > 0 ? c.bytes(dataLen, 'variable data').toString('base64') : '';
  return {
    unicode_name: name,
    unicode_name_length: nameLen,
    variable_data: value,
    variable_data_length: dataLen,
    variable_name: guidBytesHex(guid),
  };
}

function devicePath(type: number, subType: number, vendor: string): string {
  if (type === 1 && subType === 1 && /^[0-9a-f]{4,}$/.test(vendor) && vendor.length % 2 === 0) {
    const b = Buffer.from(vendor, 'hex');
    return `Pci(${b[0]},${b[1]})`;
  }
  if (type === 4 && subType === 4) return `File(${vendor})`;
  return `Path(${type},${subType},${vendor})`;
}

function bootServicesApp(d: Buffer): EventDetails {
  // UEFI_IMAGE_LOAD_EVENT: location, length, link-time address (3 × u64), device path length, path.
  if (d.length < 32) throw malformed('boot services application event is too short');
  const pathLen = Number(d.readBigUInt64LE(24));
  if (pathLen < 4) return {};
  const end = 32 + pathLen - 4; // the end-of-path node is not rendered
  if (d.length <= end) return {};
  let path = d.subarray(32, end);
  const out: EventDetails = {};
  while (path.length >= 4) {
    const len = path.readUInt16LE(2);
    if (len < 4 || len > path.length) break;
    const vendor = recoverString(path.subarray(4, len));
    out.device_paths = [...(out.device_paths ?? []), devicePath(path[0], path[1], vendor)];
    out.unicode_name = vendor;
    out.unicode_name_length = Buffer.byteLength(vendor, 'utf8');
    path = path.subarray(len);
  }
  return out;
}

function eventTag(d: Buffer): EventDetails {
  const c = new Cursor(d);
  const tag = c.u32('event tag id');
  const len = c.u32('event tag size');
  const text = utf8OrThrow(c.bytes(len, 'event tag data')).replace(/\0/g, '');
  // The attestation agent's runtime events are tagged "AAEL" and read "domain operation content".
  if (tag === 0x4c454141) {
    const [domain = '', operation = '', ...content] = text.split(' ');
    return { string: text, unicode_name: 'AAEL', data: { domain, operation, content: content.join(' ') } };
  }
  return { string: text };
}

function details(type: number, d: Buffer): EventDetails {
  switch (type) {
    case 0x1: // EV_POST_CODE
    case 0x5: // EV_ACTION
    case 0xc: // EV_COMPACT_HASH
    case 0x12: // EV_OMIT_BOOT_DEVICE_EVENTS
    case 0x80000007: // EV_EFI_ACTION
      return { string: utf8OrEmpty(d) };
    case 0x6:
      return eventTag(d);
    case 0xa: // EV_PLATFORM_CONFIG_FLAGS: td-shim writes "<descriptor>\0<u32 len><text>"
      return {
        string: [...utf8OrEmpty(d).replace(/\x10/g, ' ')].filter((ch) => !/\p{Cc}/u.test(ch)).join(''),
      };
    case 0xd: // EV_IPL; GCE prefixes a UTF-16 string with 2e 00
      if (d.length < 2) throw malformed('EV_IPL event is too short');
      if (d[0] === 0x2e && d[1] === 0) return { string: recoverString(d.subarray(2)) };
      return { string: utf8OrEmpty(d).replace(/\0/g, '') };
    case 0x80000001:
    case 0x80000002:
    case 0x8000000c:
    case 0x800000e0:
      return efiVariable(d);
    case 0x80000003:
      return bootServicesApp(d);
    case 0x8000000a: // EV_EFI_PLATFORM_FIRMWARE_BLOB2 / HANDOFF_TABLES2: u8 length, description
    case 0x8000000b: {
      const len = d[0] ?? 0;
      if (d.length < 1 + len) throw malformed('description runs past the event');
      return { string: utf8OrThrow(d.subarray(1, 1 + len)).replace(/\0/g, '') };
    }
    default:
      return {};
  }
}

function digestMatchesEvent(e: EventLogEntry): boolean {
  if (e.digests.length === 0) return false;
  return e.digests.every((d) => {
    const alg = ALG_HASH[d.algId];
    return alg !== undefined && createHash(alg).update(e.data).digest().equals(d.digest);
  });
}

/** The entries as Trustee's `uefi_event_logs` claim. Unparseable details give `{}`. */
export function eventLogClaims(entries: EventLogEntry[]): Record<string, unknown>[] {
  return entries.map((e) => {
    let d: EventDetails;
    try {
      d = details(e.type, e.data);
    } catch {
      d = {};
    }
    return {
      details: d,
      digest_matches_event: digestMatchesEvent(e),
      digests: e.digests.map((x) => ({ alg: ALG_NAMES[x.algId], digest: x.digest.toString('hex') })),
      event: e.data.toString('base64'),
      index: e.index,
      type_name: EVENT_TYPES[e.type],
    };
  });
}
