import type pg from 'pg';
import type { PostgresConfig } from './config.js';
import { StorageError } from './errors.js';
import { checkKey, checkNamespace, checkPrefix, checkValue, prefixUpperBound } from './keys.js';
import { checkSession } from './memory.js';
import { openPostgres, type PgHandle, pgError } from './postgres-db.js';
import { isValidSessionId, type SessionStore } from './session-store.js';
import type { Storage } from './storage.js';

export { openPostgres, PgHandle } from './postgres-db.js';

function buf(v: Uint8Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

/** Rows per statement for `setMany`: large enough to amortise round trips, small enough for memory. */
const BULK_ROWS = 5000;
/** Bytes of values per statement for `setMany` (one bytea parameter; PostgreSQL allows up to 1 GiB). */
const BULK_BYTES = 16 * 1024 * 1024;

/**
 * Key-value storage in one PostgreSQL table with a (namespace, key) primary key. Every call is one
 * statement on the pool: no process-local cache, so replicas always see committed data, and each
 * write is a single atomic upsert (`INSERT … ON CONFLICT`), so concurrent writers never interleave.
 */
export class PgStorage implements Storage {
  readonly #handle: PgHandle;
  readonly #pool: pg.Pool;
  readonly #t: string;
  #closed = false;

  static async open(config: PostgresConfig): Promise<PgStorage> {
    return new PgStorage(await openPostgres(config));
  }

  constructor(handle: PgHandle) {
    this.#handle = handle;
    this.#pool = handle.acquire();
    this.#t = handle.table('kv');
  }

  async set(
    namespace: string,
    key: string,
    value: Uint8Array,
    opts?: { overwrite?: boolean },
  ): Promise<void> {
    checkNamespace(namespace);
    checkKey(key);
    checkValue(value);
    this.#open();
    const sql =
      opts?.overwrite === false
        ? `INSERT INTO ${this.#t} (namespace, key, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`
        : `INSERT INTO ${this.#t} (namespace, key, value) VALUES ($1, $2, $3)
           ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value`;
    let r: pg.QueryResult;
    try {
      r = await this.#pool.query(sql, [namespace, key, buf(value)]);
    } catch (e) {
      throw pgError('write', e);
    }
    if (r.rowCount === 0) throw new StorageError('ALREADY_EXISTS', `${namespace}/${key} already exists`);
  }

  async get(namespace: string, key: string): Promise<Uint8Array | undefined> {
    checkNamespace(namespace);
    checkKey(key);
    this.#open();
    try {
      const r = await this.#pool.query<{ value: Buffer }>({
        name: 'cocoseal-kv-get',
        text: `SELECT value FROM ${this.#t} WHERE namespace = $1 AND key = $2`,
        values: [namespace, key],
      });
      const v = r.rows[0]?.value;
      return v === undefined ? undefined : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    } catch (e) {
      throw pgError('read', e);
    }
  }

  async delete(namespace: string, key: string): Promise<boolean> {
    checkNamespace(namespace);
    checkKey(key);
    this.#open();
    try {
      const r = await this.#pool.query(`DELETE FROM ${this.#t} WHERE namespace = $1 AND key = $2`, [
        namespace,
        key,
      ]);
      return (r.rowCount ?? 0) > 0;
    } catch (e) {
      throw pgError('delete', e);
    }
  }

  async list(namespace: string, prefix = ''): Promise<string[]> {
    checkNamespace(namespace);
    checkPrefix(prefix);
    this.#open();
    try {
      const r = await this.#pool.query<{ key: string }>(
        `SELECT key FROM ${this.#t} WHERE namespace = $1 AND key >= $2 AND key < $3 ORDER BY key`,
        [namespace, prefix, prefixUpperBound(prefix)],
      );
      return r.rows.map((row) => row.key);
    } catch (e) {
      throw pgError('list', e);
    }
  }

  /**
   * Loads many entries in one transaction with multi-row inserts (bulk import, benchmarks). Each
   * statement carries up to BULK_ROWS keys as a text[] and their values concatenated into one binary
   * bytea parameter with offsets and lengths, split server-side: this avoids the hex text encoding
   * of a bytea[] and loads about twice as fast. Existing keys are replaced.
   */
  async setMany(namespace: string, entries: Iterable<[string, Uint8Array]>): Promise<number> {
    checkNamespace(namespace);
    this.#open();
    const client = await this.#pool.connect().catch((e) => {
      throw pgError('connect', e);
    });
    let n = 0;
    const sql = `INSERT INTO ${this.#t} (namespace, key, value)
      SELECT $1, k, substring($3::bytea FROM o FOR l) FROM unnest($2::text[], $4::int[], $5::int[]) AS t(k, o, l)
      ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value`;
    try {
      await client.query('BEGIN');
      // A Map per batch: one statement must not touch the same key twice (the last value wins).
      let batch = new Map<string, Uint8Array>();
      let bytes = 0;
      const flush = async () => {
        if (batch.size === 0) return;
        const offsets: number[] = [];
        const lengths: number[] = [];
        let off = 1; // substring() is 1-based
        for (const v of batch.values()) {
          offsets.push(off);
          lengths.push(v.byteLength);
          off += v.byteLength;
        }
        const blob = Buffer.concat([...batch.values()]);
        await client.query(sql, [namespace, [...batch.keys()], blob, offsets, lengths]);
        batch = new Map();
        bytes = 0;
      };
      for (const [key, value] of entries) {
        checkKey(key);
        checkValue(value);
        batch.set(key, value);
        bytes += value.byteLength;
        n++;
        if (batch.size >= BULK_ROWS || bytes >= BULK_BYTES) await flush();
      }
      await flush();
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw pgError('bulk write', e);
    } finally {
      client.release();
    }
    return n;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle.release();
  }

  #open(): void {
    if (this.#closed) throw new StorageError('STORAGE_UNAVAILABLE', 'PostgreSQL storage is closed');
  }
}

/** Sessions in PostgreSQL with a B-tree index on expiry: `sweep` is one indexed range delete. */
export class PgSessionStore implements SessionStore {
  readonly #handle: PgHandle;
  readonly #pool: pg.Pool;
  readonly #t: string;
  #closed = false;

  constructor(handle: PgHandle) {
    this.#handle = handle;
    this.#pool = handle.acquire();
    this.#t = handle.table('sessions');
  }

  async put(id: string, data: Uint8Array, expiresAt: number): Promise<void> {
    checkSession(id, expiresAt);
    this.#open();
    try {
      if (expiresAt <= Date.now()) {
        await this.#pool.query(`DELETE FROM ${this.#t} WHERE id = $1`, [id]);
        return;
      }
      await this.#pool.query(
        `INSERT INTO ${this.#t} (id, data, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, expires_at = EXCLUDED.expires_at`,
        [id, buf(data), expiresAt],
      );
    } catch (e) {
      throw pgError('session write', e);
    }
  }

  async get(id: string, now = Date.now()): Promise<Uint8Array | undefined> {
    if (!isValidSessionId(id)) return undefined;
    this.#open();
    try {
      const r = await this.#pool.query<{ data: Buffer; expires_at: string }>(
        `SELECT data, expires_at FROM ${this.#t} WHERE id = $1`,
        [id],
      );
      const row = r.rows[0];
      if (!row) return undefined;
      if (Number(row.expires_at) <= now) {
        await this.#pool.query(`DELETE FROM ${this.#t} WHERE id = $1 AND expires_at <= $2`, [id, now]);
        return undefined;
      }
      return new Uint8Array(row.data.buffer, row.data.byteOffset, row.data.byteLength);
    } catch (e) {
      throw pgError('session read', e);
    }
  }

  async delete(id: string): Promise<void> {
    if (!isValidSessionId(id)) return;
    this.#open();
    try {
      await this.#pool.query(`DELETE FROM ${this.#t} WHERE id = $1`, [id]);
    } catch (e) {
      throw pgError('session delete', e);
    }
  }

  async sweep(now = Date.now()): Promise<number> {
    this.#open();
    try {
      const r = await this.#pool.query(`DELETE FROM ${this.#t} WHERE expires_at <= $1`, [now]);
      return r.rowCount ?? 0;
    } catch (e) {
      throw pgError('session sweep', e);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle.release();
  }

  #open(): void {
    if (this.#closed) throw new StorageError('STORAGE_UNAVAILABLE', 'PostgreSQL session store is closed');
  }
}
