import { createHash } from 'node:crypto';
import { canonicalize } from '../../crypto/jcs.js';
import { AuditError } from './errors.js';
import type { AuditEntry, AuditQuery, AuditRecord, AuditVerifyResult } from './types.js';

/** `<alg>:<hex>` digest for `evidenceDigest` / `policyDigest` (SHA-256 unless told). */
export function auditDigest(
  data: Uint8Array | string,
  alg: 'sha256' | 'sha384' | 'sha512' = 'sha256',
): string {
  return `${alg}:${createHash(alg).update(data).digest('hex')}`;
}

/** `prevHash` of the first record. */
export const GENESIS_HASH = '0'.repeat(64);
export const MAX_FIELD_LENGTH = 1024;
export const DEFAULT_LIST_LIMIT = 1000;
export const MAX_LIST_LIMIT = 10_000;

const KINDS = new Set(['resource', 'admin', 'attestation']);
const DECISIONS = new Set(['allow', 'deny']);
const OPTIONAL_FIELDS = [
  'reason',
  'tee',
  'evidenceDigest',
  'path',
  'policyId',
  'policyDigest',
  'action',
  'actor',
] as const;

function field(name: string, v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw new AuditError('INVALID_ENTRY', `audit field ${name} must be a string`);
  if (v.length > MAX_FIELD_LENGTH) {
    throw new AuditError(
      'INVALID_ENTRY',
      `audit field ${name} is longer than ${MAX_FIELD_LENGTH} characters`,
    );
  }
  // One record, one line: no control characters that could forge lines in a text export.
  if (/[\u0000-\u001f\u007f]/.test(v)) {
    throw new AuditError('INVALID_ENTRY', `audit field ${name} contains control characters`);
  }
  return v;
}

/** Validates an entry and builds the record that follows `prev` (hash filled in). */
export function buildRecord(entry: AuditEntry, prev: { seq: number; hash: string }, now: Date): AuditRecord {
  if (!KINDS.has(entry.kind))
    throw new AuditError('INVALID_ENTRY', 'audit kind must be resource, admin or attestation');
  if (!DECISIONS.has(entry.decision))
    throw new AuditError('INVALID_ENTRY', 'audit decision must be allow or deny');
  const time = entry.time ?? now;
  if (!(time instanceof Date) || Number.isNaN(time.getTime())) {
    throw new AuditError('INVALID_ENTRY', 'audit time must be a valid Date');
  }
  const rec = {
    seq: prev.seq + 1,
    time: time.toISOString(),
    kind: entry.kind,
    decision: entry.decision,
  } as AuditRecord;
  for (const f of OPTIONAL_FIELDS) rec[f] = field(f, entry[f]);
  rec.prevHash = prev.hash;
  rec.hash = recordHash(rec);
  return rec;
}

/**
 * SHA-256 over the RFC 8785 canonical JSON of every field except `hash`, with a version tag. JCS
 * gives one byte string per record regardless of field order or backend, and `null` stands for an
 * absent field so that removing a field changes the hash.
 */
export function recordHash(r: Omit<AuditRecord, 'hash'>): string {
  const canonical = canonicalize({
    v: 1,
    seq: r.seq,
    time: r.time,
    kind: r.kind,
    decision: r.decision,
    reason: r.reason,
    tee: r.tee,
    evidence_digest: r.evidenceDigest,
    path: r.path,
    policy_id: r.policyId,
    policy_digest: r.policyDigest,
    action: r.action,
    actor: r.actor,
    prev_hash: r.prevHash,
  });
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

/**
 * Checks records fed in ascending `seq` order: sequence numbers are contiguous from 1 (a removed
 * record leaves a gap), each `prevHash` is the previous record's hash (a reordered or replaced record
 * breaks the link), each hash matches its record (an altered field), and finally the stored chain
 * head matches the last record (a truncated tail). Incremental so that a large log streams through.
 */
export class ChainVerifier {
  #expected = 1;
  #prev = GENESIS_HASH;

  /** Returns a failure for the first bad record, or undefined to continue. */
  push(r: AuditRecord): AuditVerifyResult | undefined {
    const expected = this.#expected;
    if (r.seq !== expected) {
      return r.seq > expected
        ? { ok: false, badSeq: expected, reason: `record ${expected} is missing (next record is ${r.seq})` }
        : { ok: false, badSeq: r.seq, reason: `record ${r.seq} is out of order` };
    }
    if (r.prevHash !== this.#prev) {
      return {
        ok: false,
        badSeq: r.seq,
        reason: `record ${r.seq} does not link to record ${r.seq - 1} (prev_hash mismatch: removed, reordered or rewritten)`,
      };
    }
    let h: string;
    try {
      h = recordHash(r);
    } catch {
      return { ok: false, badSeq: r.seq, reason: `record ${r.seq} cannot be encoded (altered)` };
    }
    if (h !== r.hash)
      return { ok: false, badSeq: r.seq, reason: `record ${r.seq} was altered (hash mismatch)` };
    this.#prev = r.hash;
    this.#expected++;
    return undefined;
  }

  finish(head: { seq: number; hash: string } | undefined): AuditVerifyResult {
    const count = this.#expected - 1;
    if (!head) return { ok: false, badSeq: count + 1, reason: 'the audit chain head is missing' };
    if (head.seq > count) {
      return {
        ok: false,
        badSeq: count + 1,
        reason: `the chain head is record ${head.seq} but the log ends at record ${count} (records removed from the end)`,
      };
    }
    if (head.seq < count) {
      return {
        ok: false,
        badSeq: head.seq + 1,
        reason: `record ${head.seq + 1} is beyond the chain head (record ${head.seq}): added outside the log`,
      };
    }
    if (head.hash !== this.#prev) {
      return {
        ok: false,
        badSeq: count,
        reason: `record ${count} does not match the chain head (rewritten)`,
      };
    }
    return { ok: true, count, headHash: this.#prev };
  }
}

export function verifyChain(
  records: Iterable<AuditRecord>,
  head: { seq: number; hash: string } | undefined,
): AuditVerifyResult {
  const v = new ChainVerifier();
  for (const r of records) {
    const bad = v.push(r);
    if (bad) return bad;
  }
  return v.finish(head);
}

export function listLimit(q: AuditQuery | undefined): number {
  const l = q?.limit ?? DEFAULT_LIST_LIMIT;
  if (!Number.isSafeInteger(l) || l < 1)
    throw new AuditError('INVALID_ENTRY', 'audit list limit must be a positive integer');
  return Math.min(l, MAX_LIST_LIMIT);
}

/**
 * The WHERE clause and arguments of a list query for the SQL backends, followed by the LIMIT
 * argument; `param(n)` spells the n-th placeholder (`$n` for PostgreSQL, `?` for SQLite).
 */
export function auditListSql(
  q: AuditQuery | undefined,
  param: (n: number) => string,
): { where: string; limit: string; args: unknown[] } {
  const limit = listLimit(q);
  const where: string[] = [];
  const args: unknown[] = [];
  const add = (column: string, op: string, value: unknown) => {
    args.push(value);
    where.push(`${column} ${op} ${param(args.length)}`);
  };
  if (q?.afterSeq !== undefined) add('seq', '>', q.afterSeq);
  if (q?.since !== undefined) add('time', '>=', q.since.toISOString());
  if (q?.path !== undefined) add('path', '=', q.path);
  args.push(limit);
  return { where: where.length ? `WHERE ${where.join(' AND ')}` : '', limit: param(args.length), args };
}
