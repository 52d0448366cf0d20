import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AttestationError } from '../errors.js';

/*
 * The TDX firmware event log, as the upstream guest puts it in `cc_eventlog` (tee-evidence.md §2.9):
 * the ACPI CCEL log area (`/sys/firmware/acpi/tables/data/CCEL`) cut after its last event, then an
 * 8-byte all-FF end marker. The log is TCG2 crypto-agile: one legacy TCG_PCR_EVENT carrying the
 * "Spec ID Event03" (which lists the digest sizes), then TCG_PCR_EVENT2 records until 8 bytes of
 * 00 or FF. The CCEL ACPI table (`/sys/firmware/acpi/tables/CCEL`, ACPI 6.5 §5.2.34), when
 * present, bounds the log area by its LAML.
 */

export const DEFAULT_ACPI_TABLES_DIR = '/sys/firmware/acpi/tables';
export const EVENT_LOG_END = new Uint8Array(8).fill(0xff);

const CCEL_TABLE_SIZE = 56;
const EV_NO_ACTION = 3;
/** Digest sizes of the TPM algorithm IDs seen in CC event logs, used when the header omits one. */
const KNOWN_DIGEST_SIZES = new Map([
  [0x0004, 20], // SHA-1
  [0x000b, 32], // SHA-256
  [0x000c, 48], // SHA-384
  [0x000d, 64], // SHA-512
  [0x0012, 32], // SM3-256
]);

export interface CcelTable {
  ccType: number;
  ccSubtype: number;
  /** Log area minimum length. */
  laml: bigint;
  /** Log area start address. */
  lasa: bigint;
}

function bad(message: string): AttestationError {
  return new AttestationError('ATTESTER_FAILED', `CCEL: ${message}`);
}

export function parseCcelTable(table: Uint8Array): CcelTable {
  const b = Buffer.from(table.buffer, table.byteOffset, table.length);
  if (b.length < CCEL_TABLE_SIZE) throw bad(`ACPI table is ${b.length} bytes; expected ${CCEL_TABLE_SIZE}`);
  if (b.toString('latin1', 0, 4) !== 'CCEL') throw bad('ACPI table signature is not CCEL');
  if (b.readUInt32LE(4) !== b.length) throw bad('ACPI table length field does not match its size');
  let sum = 0;
  for (const x of b) sum = (sum + x) & 0xff;
  if (sum !== 0) throw bad('ACPI table checksum is wrong');
  return { ccType: b[36], ccSubtype: b[37], laml: b.readBigUInt64LE(40), lasa: b.readBigUInt64LE(48) };
}

/** The length of the event log in a CCEL log area: up to (not including) the end marker. */
export function ccelLogLength(area: Uint8Array): number {
  const b = Buffer.from(area.buffer, area.byteOffset, area.length);
  const need = (at: number, n: number, what: string) => {
    if (at + n > b.length) throw bad(`log area ends inside ${what} at offset ${at}`);
  };
  // TCG_PCR_EVENT: pcrIndex u32, eventType u32, SHA-1 digest[20], eventSize u32, event.
  need(0, 32, 'the first event');
  if (b.readUInt32LE(4) !== EV_NO_ACTION) throw bad('log does not start with a TCG Spec ID event');
  const headerSize = b.readUInt32LE(28);
  need(32, headerSize, 'the Spec ID event');
  const sizes = new Map(KNOWN_DIGEST_SIZES);
  // TCG_EfiSpecIDEvent: signature[16], platformClass u32, versions 3×u8, uintnSize u8,
  // numberOfAlgorithms u32, then {algorithmId u16, digestSize u16}.
  if (headerSize >= 28 && b.toString('latin1', 32, 47) === 'Spec ID Event03') {
    const count = b.readUInt32LE(32 + 24);
    if (28 + count * 4 <= headerSize) {
      for (let i = 0; i < count; i++) sizes.set(b.readUInt16LE(60 + i * 4), b.readUInt16LE(62 + i * 4));
    }
  }
  let at = 32 + headerSize;
  for (;;) {
    need(at, 8, 'the end marker');
    const marker = b.subarray(at, at + 8);
    if (marker.every((x) => x === 0xff) || marker.every((x) => x === 0)) return at;
    // TCG_PCR_EVENT2: mrIndex u32, eventType u32, digestCount u32, digests, eventSize u32, event.
    need(at, 12, 'an event header');
    const digests = b.readUInt32LE(at + 8);
    if (digests === 0 || digests > sizes.size) throw bad(`event at offset ${at} has ${digests} digests`);
    at += 12;
    for (let i = 0; i < digests; i++) {
      need(at, 2, 'a digest');
      const alg = b.readUInt16LE(at);
      const size = sizes.get(alg);
      if (size === undefined) throw bad(`event digest algorithm 0x${alg.toString(16)} is unknown`);
      at += 2 + size;
    }
    need(at, 4, 'an event size');
    const eventSize = b.readUInt32LE(at);
    at += 4;
    need(at, eventSize, 'event data');
    at += eventSize;
  }
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AttestationError('ATTESTER_FAILED', `cannot read ${path}`, { cause: e });
  }
}

/**
 * The `cc_eventlog` bytes (trimmed log + end marker), or undefined when the firmware exposes no
 * CCEL log area (upstream then sends null and the verifier only warns).
 */
export async function readCcEventLog(
  acpiTablesDir = DEFAULT_ACPI_TABLES_DIR,
): Promise<Uint8Array | undefined> {
  let area = await readOptional(join(acpiTablesDir, 'data', 'CCEL'));
  if (!area) return undefined;
  const table = await readOptional(join(acpiTablesDir, 'CCEL'));
  if (table) {
    const { laml } = parseCcelTable(table);
    if (BigInt(area.length) > laml) area = area.subarray(0, Number(laml));
  }
  const length = ccelLogLength(area);
  const out = new Uint8Array(length + EVENT_LOG_END.length);
  out.set(area.subarray(0, length));
  out.set(EVENT_LOG_END, length);
  return out;
}
