import type Database from 'better-sqlite3';
import { StorageError } from './errors.js';
import { checkKey, checkNamespace, checkPrefix, checkValue, prefixUpperBound } from './keys.js';
import { checkSession } from './memory.js';
import { isValidSessionId, type SessionStore } from './session-store.js';
import { openSqlite, type SqliteHandle, sqliteError } from './sqlite-db.js';
import type { Storage } from './storage.js';

export { openSqlite, SqliteHandle } from './sqlite-db.js';

function toBytes(v: Buffer): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

/** Key-value storage in one SQLite table with a (namespace, key) primary key. */
export class SqliteStorage implements Storage {
  readonly #handle: SqliteHandle;
  readonly #db: Database.Database;
  readonly #upsert: Database.Statement;
  readonly #insert: Database.Statement;
  readonly #get: Database.Statement;
  readonly #delete: Database.Statement;
  readonly #list: Database.Statement;
  #closed = false;

  /** Opens its own database file. Use `new SqliteStorage(handle)` to share one with sessions/audit. */
  static open(path: string): SqliteStorage {
    return new SqliteStorage(openSqlite(path));
  }

  constructor(handle: SqliteHandle) {
    this.#handle = handle;
    this.#db = handle.acquire();
    const db = this.#db;
    this.#upsert = db.prepare(
      'INSERT INTO kv (namespace, key, value) VALUES (?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value',
    );
    this.#insert = db.prepare(
      'INSERT INTO kv (namespace, key, value) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    );
    this.#get = db.prepare('SELECT value FROM kv WHERE namespace = ? AND key = ?').pluck();
    this.#delete = db.prepare('DELETE FROM kv WHERE namespace = ? AND key = ?');
    this.#list = db
      .prepare('SELECT key FROM kv WHERE namespace = ? AND key >= ? AND key < ? ORDER BY key')
      .pluck();
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
    let changes: number;
    try {
      const stmt = opts?.overwrite === false ? this.#insert : this.#upsert;
      changes = stmt.run(
        namespace,
        key,
        Buffer.from(value.buffer, value.byteOffset, value.byteLength),
      ).changes;
    } catch (e) {
      throw sqliteError('write', e);
    }
    if (changes === 0) throw new StorageError('ALREADY_EXISTS', `${namespace}/${key} already exists`);
  }

  async get(namespace: string, key: string): Promise<Uint8Array | undefined> {
    checkNamespace(namespace);
    checkKey(key);
    this.#open();
    try {
      const v = this.#get.get(namespace, key) as Buffer | undefined;
      return v === undefined ? undefined : toBytes(v);
    } catch (e) {
      throw sqliteError('read', e);
    }
  }

  async delete(namespace: string, key: string): Promise<boolean> {
    checkNamespace(namespace);
    checkKey(key);
    this.#open();
    try {
      return this.#delete.run(namespace, key).changes > 0;
    } catch (e) {
      throw sqliteError('delete', e);
    }
  }

  async list(namespace: string, prefix = ''): Promise<string[]> {
    checkNamespace(namespace);
    checkPrefix(prefix);
    this.#open();
    try {
      return this.#list.all(namespace, prefix, prefixUpperBound(prefix)) as string[];
    } catch (e) {
      throw sqliteError('list', e);
    }
  }

  /**
   * Loads many entries in one transaction (bulk import, benchmarks): one fsync for the lot.
   * Existing keys are replaced.
   */
  async setMany(namespace: string, entries: Iterable<[string, Uint8Array]>): Promise<number> {
    checkNamespace(namespace);
    this.#open();
    let n = 0;
    try {
      this.#db.transaction(() => {
        for (const [key, value] of entries) {
          checkKey(key);
          checkValue(value);
          this.#upsert.run(namespace, key, Buffer.from(value.buffer, value.byteOffset, value.byteLength));
          n++;
        }
      })();
    } catch (e) {
      throw sqliteError('bulk write', e);
    }
    return n;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handle.release();
  }

  #open(): void {
    if (this.#closed) throw new StorageError('STORAGE_UNAVAILABLE', 'SQLite storage is closed');
  }
}

/** Sessions in SQLite with an index on expiry: `sweep` is one indexed range delete. */
export class SqliteSessionStore implements SessionStore {
  readonly #handle: SqliteHandle;
  readonly #put: Database.Statement;
  readonly #get: Database.Statement;
  readonly #delete: Database.Statement;
  readonly #deleteExpired: Database.Statement;
  readonly #sweep: Database.Statement;
  #closed = false;

  constructor(handle: SqliteHandle) {
    this.#handle = handle;
    const db = handle.acquire();
    this.#put = db.prepare(
      'INSERT INTO sessions (id, data, expires_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at',
    );
    this.#get = db.prepare('SELECT data, expires_at AS expiresAt FROM sessions WHERE id = ?');
    this.#delete = db.prepare('DELETE FROM sessions WHERE id = ?');
    this.#deleteExpired = db.prepare('DELETE FROM sessions WHERE id = ? AND expires_at <= ?');
    this.#sweep = db.prepare('DELETE FROM sessions WHERE expires_at <= ?');
  }

  async put(id: string, data: Uint8Array, expiresAt: number): Promise<void> {
    checkSession(id, expiresAt);
    this.#open();
    try {
      if (expiresAt <= Date.now()) this.#delete.run(id);
      else this.#put.run(id, Buffer.from(data.buffer, data.byteOffset, data.byteLength), expiresAt);
    } catch (e) {
      throw sqliteError('session write', e);
    }
  }

  async get(id: string, now = Date.now()): Promise<Uint8Array | undefined> {
    if (!isValidSessionId(id)) return undefined;
    this.#open();
    try {
      const row = this.#get.get(id) as { data: Buffer; expiresAt: number } | undefined;
      if (!row) return undefined;
      if (row.expiresAt <= now) {
        this.#deleteExpired.run(id, now);
        return undefined;
      }
      return toBytes(row.data);
    } catch (e) {
      throw sqliteError('session read', e);
    }
  }

  async delete(id: string): Promise<void> {
    if (!isValidSessionId(id)) return;
    this.#open();
    try {
      this.#delete.run(id);
    } catch (e) {
      throw sqliteError('session delete', e);
    }
  }

  async sweep(now = Date.now()): Promise<number> {
    this.#open();
    try {
      return this.#sweep.run(now).changes;
    } catch (e) {
      throw sqliteError('session sweep', e);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#handle.release();
  }

  #open(): void {
    if (this.#closed) throw new StorageError('STORAGE_UNAVAILABLE', 'SQLite session store is closed');
  }
}
