import type pg from 'pg';
import type { PgHandle } from '../storage/postgres-db.js';
import { AuditError } from './errors.js';
import { auditListSql, buildRecord, ChainVerifier } from './record.js';
import type { AuditEntry, AuditLog, AuditQuery, AuditRecord, AuditVerifyResult } from './types.js';

const COLUMNS = `seq, time, kind, decision, reason, tee, evidence_digest AS "evidenceDigest", path,
  policy_id AS "policyId", policy_digest AS "policyDigest", action, actor, prev_hash AS "prevHash", hash`;
const VERIFY_BATCH = 5000;

type Row = Omit<AuditRecord, 'seq'> & { seq: string };

function toRecord(r: Row): AuditRecord {
  return { ...r, seq: Number(r.seq) };
}

function unavailable(what: string, e: unknown): AuditError {
  if (e instanceof AuditError) return e;
  const code = String((e as { code?: string })?.code ?? 'unknown');
  return new AuditError('AUDIT_UNAVAILABLE', `PostgreSQL audit ${what} failed (${code})`, { cause: e });
}

/**
 * Audit log in PostgreSQL. An append locks the one-row chain head with SELECT … FOR UPDATE, so
 * appends from every replica are serialised on it; the record insert and the head move commit
 * together or not at all.
 */
export class PgAuditLog implements AuditLog {
  readonly #handle: PgHandle;
  readonly #pool: pg.Pool;
  readonly #log: string;
  readonly #head: string;
  #closed = false;

  constructor(handle: PgHandle) {
    this.#handle = handle;
    this.#pool = handle.acquire();
    this.#log = handle.table('audit_log');
    this.#head = handle.table('audit_head');
  }

  async append(entry: AuditEntry): Promise<AuditRecord> {
    return (await this.appendMany([entry]))[0];
  }

  /** One transaction, one lock on the chain head and one multi-row INSERT for the whole batch. */
  async appendMany(entries: AuditEntry[]): Promise<AuditRecord[]> {
    this.#open();
    if (entries.length === 0) return [];
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (e) {
      throw unavailable('connect', e);
    }
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const h = await client.query<{ seq: string; hash: string }>(
        `SELECT seq, hash FROM ${this.#head} WHERE id = 1 FOR UPDATE`,
      );
      const head = h.rows[0];
      if (!head) throw new AuditError('AUDIT_UNAVAILABLE', 'PostgreSQL audit chain head is missing');
      const now = new Date();
      const recs: AuditRecord[] = [];
      let prev = { seq: Number(head.seq), hash: head.hash };
      for (const entry of entries) {
        const rec = buildRecord(entry, prev, now);
        recs.push(rec);
        prev = rec;
      }
      const args: unknown[] = [];
      const rows = recs.map((rec) => {
        const values = [
          rec.seq,
          rec.time,
          rec.kind,
          rec.decision,
          rec.reason,
          rec.tee,
          rec.evidenceDigest,
          rec.path,
          rec.policyId,
          rec.policyDigest,
          rec.action,
          rec.actor,
          rec.prevHash,
          rec.hash,
        ];
        const first = args.length + 1;
        args.push(...values);
        return `(${values.map((_, i) => `$${first + i}`).join(', ')})`;
      });
      await client.query(
        `INSERT INTO ${this.#log} (seq, time, kind, decision, reason, tee, evidence_digest, path, policy_id,
           policy_digest, action, actor, prev_hash, hash)
         VALUES ${rows.join(', ')}`,
        args,
      );
      await client.query(`UPDATE ${this.#head} SET seq = $1, hash = $2 WHERE id = 1`, [prev.seq, prev.hash]);
      await client.query('COMMIT');
      return recs;
    } catch (e) {
      await client.query('ROLLBACK').catch((re: Error) => {
        broken = re;
      });
      throw unavailable('append', e);
    } finally {
      client.release(broken);
    }
  }

  async list(q?: AuditQuery): Promise<AuditRecord[]> {
    this.#open();
    const { where, limit, args } = auditListSql(q, (n) => `$${n}`);
    const sql = `SELECT ${COLUMNS} FROM ${this.#log} ${where} ORDER BY seq LIMIT ${limit}`;
    try {
      const r = await this.#pool.query<Row>(sql, args);
      return r.rows.map(toRecord);
    } catch (e) {
      throw unavailable('list', e);
    }
  }

  /** Streams the chain in batches inside one REPEATABLE READ snapshot (consistent while others append). */
  async verify(): Promise<AuditVerifyResult> {
    this.#open();
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (e) {
      throw unavailable('connect', e);
    }
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const h = await client.query<{ seq: string; hash: string }>(
        `SELECT seq, hash FROM ${this.#head} WHERE id = 1`,
      );
      const v = new ChainVerifier();
      let after = 0;
      for (;;) {
        const r = await client.query<Row>(
          `SELECT ${COLUMNS} FROM ${this.#log} WHERE seq > $1 ORDER BY seq LIMIT ${VERIFY_BATCH}`,
          [after],
        );
        for (const row of r.rows) {
          const bad = v.push(toRecord(row));
          if (bad) return bad;
          after = Number(row.seq);
        }
        if (r.rows.length < VERIFY_BATCH) break;
      }
      const head = h.rows[0];
      return v.finish(head ? { seq: Number(head.seq), hash: head.hash } : undefined);
    } catch (e) {
      throw unavailable('verify', e);
    } finally {
      await client.query('COMMIT').catch(() => {});
      client.release();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle.release();
  }

  #open(): void {
    if (this.#closed) throw new AuditError('AUDIT_UNAVAILABLE', 'PostgreSQL audit log is closed');
  }
}
