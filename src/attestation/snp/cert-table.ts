import { AttestationError } from '../errors.js';
import type { CertChainEntry, CertType, CertTypeName } from './evidence-json.js';

/*
 * The host's certificate table returned with an extended SNP report (SNP_GET_EXT_REPORT, and the
 * configfs-tsm `auxblob` of a `sev_guest` provider): 24-byte entries `{guid[16], offset u32,
 * length u32}` ended by an all-zero GUID, offsets relative to the start of the blob (GHCB spec;
 * tee-evidence.md §1.7).
 *
 * GUIDs are stored in RFC 4122 byte order (the order of the hex digits in the text form), as AMD's
 * reference tools, virtee and go-sev-guest write them. Some host tooling writes the mixed-endian
 * (EFI) form; the known GUIDs are recognised in both, which cannot confuse one type for another.
 */

const KNOWN: Record<Exclude<CertTypeName, 'Empty'>, string> = {
  ARK: 'c0b406a4-a803-4952-9743-3fb6014cd0ae',
  ASK: '4ab7b379-bbac-4fe4-a02f-05aef327c782',
  VCEK: '63da758d-e664-4564-adc5-f4b93be8accd',
  VLEK: 'a8074bc2-a25a-483e-aae6-39c045a0b8a1',
  CRL: '92f81bc3-5811-4d3d-97ff-d19f88dc67ea',
};

const ENTRY_SIZE = 24;
const MAX_ENTRIES = 32;

export function guidToBytes(guid: string): Uint8Array {
  const hex = guid.replace(/-/g, '');
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new TypeError(`not a GUID: ${guid}`);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

export function guidToString(bytes: Uint8Array): string {
  const h = Buffer.from(bytes).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The mixed-endian form: the first three groups byte-swapped. */
function swapEfi(bytes: Uint8Array): Uint8Array {
  const b = Uint8Array.from(bytes);
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  return b;
}

const BY_GUID = new Map<string, CertTypeName>();
for (const [name, guid] of Object.entries(KNOWN) as [CertTypeName, string][]) {
  BY_GUID.set(guid, name);
  BY_GUID.set(guidToString(swapEfi(guidToBytes(guid))), name);
}

function certTypeOf(guid: Uint8Array): CertType {
  const text = guidToString(guid);
  return BY_GUID.get(text) ?? { OTHER: text };
}

function guidOf(type: CertType): string {
  if (typeof type === 'object') return type.OTHER;
  if (type === 'Empty') return '00000000-0000-0000-0000-000000000000';
  return KNOWN[type];
}

function malformed(message: string): AttestationError {
  return new AttestationError('EVIDENCE_MALFORMED', `SNP certificate table: ${message}`);
}

/** Splits a certificate table into typed entries, in table order. The data are returned verbatim. */
export function parseCertTable(blob: Uint8Array): CertChainEntry[] {
  const view = Buffer.from(blob.buffer, blob.byteOffset, blob.length);
  const out: CertChainEntry[] = [];
  for (let i = 0; ; i++) {
    const at = i * ENTRY_SIZE;
    if (at + ENTRY_SIZE > view.length) throw malformed('no terminating all-zero entry');
    const guid = view.subarray(at, at + 16);
    if (guid.every((b) => b === 0)) return out;
    if (i === MAX_ENTRIES) throw malformed(`more than ${MAX_ENTRIES} entries`);
    const offset = view.readUInt32LE(at + 16);
    const length = view.readUInt32LE(at + 20);
    if (offset + length > view.length) {
      throw malformed(`entry ${i} points outside the ${view.length}-byte table`);
    }
    out.push({ certType: certTypeOf(guid), data: Uint8Array.from(view.subarray(offset, offset + length)) });
  }
}

/** Lays out a certificate table (what a host hands the guest). Used by tests and host tooling. */
export function buildCertTable(entries: CertChainEntry[]): Uint8Array {
  const header = (entries.length + 1) * ENTRY_SIZE;
  const total = header + entries.reduce((n, e) => n + e.data.length, 0);
  const out = Buffer.alloc(total);
  let offset = header;
  entries.forEach((e, i) => {
    out.set(guidToBytes(guidOf(e.certType)), i * ENTRY_SIZE);
    out.writeUInt32LE(offset, i * ENTRY_SIZE + 16);
    out.writeUInt32LE(e.data.length, i * ENTRY_SIZE + 20);
    out.set(e.data, offset);
    offset += e.data.length;
  });
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}
