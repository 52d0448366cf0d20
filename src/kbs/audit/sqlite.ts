import type Database from 'better-sqlite3';
import type { SqliteHandle } from '../storage/sqlite-db.js';
import { AuditError } from './errors.js';
import { auditListSql, buildRecord, ChainVerifier, verifyChain } from './record.js';
import type { AuditEntry, AuditLog, AuditQuery, AuditRecord, AuditVerifyResult } from './types.js';

const VERIFY_BATCH = 5000;
const COLUMNS = `seq, time, kind, decision, reason, tee, evidence_digest AS evidenceDigest, path,
  policy_id AS policyId, policy_digest AS policyDigest, action, actor, prev_hash AS prevHash, hash`;

function unavailable(what: string, e: unknown): AuditError {
  if (e instanceof AuditError) return e;
  const code = (e as { code?: string })?.code ?? 'unknown';
  return new AuditError('AUDIT_UNAVAILABLE', `SQLite audit ${what} failed (${code})`, { cause: e });
}

/**
 * Audit log in SQLite. Appends run in an IMMEDIATE transaction that reads the chain head, inserts the
 * record and moves the head: the write lock taken at BEGIN serialises appends across processes.
 */
export class SqliteAuditLog implements AuditLog {
  readonly #handle: SqliteHandle;
  readonly #db: Database.Database;
  readonly #append: () => AuditRecord[];
  readonly #verify: () => AuditVerifyResult;
  #pending: AuditEntry[] = [];
  #closed = false;

  constructor(handle: SqliteHandle) {
    this.#handle = handle;
    this.#db = handle.acquire();
    const db = this.#db;
    const head = db.prepare('SELECT seq, hash FROM audit_head WHERE id = 1');
    const insert = db.prepare(
      `INSERT INTO audit_log (seq, time, kind, decision, reason, tee, evidence_digest, path, policy_id,
        policy_digest, action, actor, prev_hash, hash)
       VALUES (@seq, @time, @kind, @decision, @reason, @tee, @evidenceDigest, @path, @policyId,
        @policyDigest, @action, @actor, @prevHash, @hash)`,
    );
    const moveHead = db.prepare('UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1');
    const tx = db.transaction(() => {
      let h = head.get() as { seq: number; hash: string } | undefined;
      if (!h) throw new AuditError('AUDIT_UNAVAILABLE', 'SQLite audit chain head is missing');
      const now = new Date();
      const recs: AuditRecord[] = [];
      for (const entry of this.#pending) {
        const rec = buildRecord(entry, h, now);
        insert.run(rec);
        recs.push(rec);
        h = rec;
      }
      moveHead.run(h.seq, h.hash);
      return recs;
    });
    this.#append = () => tx.immediate();
    const rows = db.prepare(`SELECT ${COLUMNS} FROM audit_log ORDER BY seq`);
    this.#verify = db.transaction(() => {
      const h = head.get() as { seq: number; hash: string } | undefined;
      return verifyChain(rows.iterate() as Iterable<AuditRecord>, h);
    }).deferred;
  }

  async append(entry: AuditEntry): Promise<AuditRecord> {
    return (await this.appendMany([entry]))[0];
  }

  async appendMany(entries: AuditEntry[]): Promise<AuditRecord[]> {
    this.#open();
    if (entries.length === 0) return [];
    try {
      this.#pending = entries;
      return this.#append();
    } catch (e) {
      throw unavailable('append', e);
    } finally {
      this.#pending = [];
    }
  }

  async list(q?: AuditQuery): Promise<AuditRecord[]> {
    this.#open();
    const { where, limit, args } = auditListSql(q, () => '?');
    const sql = `SELECT ${COLUMNS} FROM audit_log ${where} ORDER BY seq LIMIT ${limit}`;
    try {
      return this.#db.prepare(sql).all(...args) as AuditRecord[];
    } catch (e) {
      throw unavailable('list', e);
    }
  }

  /**
   * Walks the chain on a private read-only connection inside one read transaction (a consistent
   * snapshot while others append), in batches, yielding to the event loop between them so a long
   * log does not stall the server. `:memory:` databases verify synchronously on the shared connection.
   */
  async verify(): Promise<AuditVerifyResult> {
    this.#open();
    let reader: Database.Database | undefined;
    try {
      reader = this.#handle.openReader();
      if (!reader) return this.#verify();
      reader.exec('BEGIN');
      const head = reader.prepare('SELECT seq, hash FROM audit_head WHERE id = 1').get() as
        | { seq: number; hash: string }
        | undefined;
      const batch = reader.prepare(
        `SELECT ${COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ${VERIFY_BATCH}`,
      );
      const v = new ChainVerifier();
      let after = 0;
      for (;;) {
        const rows = batch.all(after) as AuditRecord[];
        for (const r of rows) {
          const bad = v.push(r);
          if (bad) return bad;
          after = r.seq;
        }
        if (rows.length < VERIFY_BATCH) break;
        await new Promise((resolve) => setImmediate(resolve));
      }
      return v.finish(head);
    } catch (e) {
      throw unavailable('verify', e);
    } finally {
      if (reader?.open) {
        if (reader.inTransaction) reader.exec('COMMIT');
        reader.close();
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handle.release();
  }

  #open(): void {
    if (this.#closed) throw new AuditError('AUDIT_UNAVAILABLE', 'SQLite audit log is closed');
  }
}
