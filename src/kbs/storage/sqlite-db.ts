import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { StorageError } from './errors.js';

/*
 * One SQLite database file holds the key-value store, the sessions and the audit log. Durability:
 * WAL with synchronous=FULL fsyncs the WAL on every commit, so an acknowledged write survives a
 * process kill and a power loss; WAL readers never block the writer. busy_timeout lets several
 * processes (or a CLI next to a running server) share the file without spurious SQLITE_BUSY.
 */

interface Migration {
  version: number;
  name: string;
  sql: string;
}

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'kv, sessions, audit log',
    sql: `
      CREATE TABLE kv (
        namespace TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        PRIMARY KEY (namespace, key)
      );
      CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        data BLOB NOT NULL,
        expires_at INTEGER NOT NULL
      );
      CREATE INDEX sessions_expires_at ON sessions (expires_at);
      CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        kind TEXT NOT NULL,
        decision TEXT NOT NULL,
        reason TEXT,
        tee TEXT,
        evidence_digest TEXT,
        path TEXT,
        policy_id TEXT,
        policy_digest TEXT,
        action TEXT,
        actor TEXT,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE INDEX audit_log_time ON audit_log (time);
      CREATE INDEX audit_log_path ON audit_log (path, seq);
      CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
      );
      INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '${'0'.repeat(64)}');
    `,
  },
];

export const SQLITE_SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;

/** Maps a better-sqlite3 error to a StorageError (the message carries no values, only the SQLite code). */
export function sqliteError(what: string, e: unknown): StorageError {
  if (e instanceof StorageError) return e;
  const code = (e as { code?: string })?.code ?? 'unknown';
  const corrupt = code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB';
  return new StorageError(
    corrupt ? 'STORAGE_CORRUPT' : 'STORAGE_UNAVAILABLE',
    `SQLite ${what} failed (${code})${corrupt ? ': the database file is damaged; restore it from a backup' : ''}`,
    { cause: e },
  );
}

/** A database handle shared by the storage, session store and audit log; closed with the last user. */
export class SqliteHandle {
  readonly db: Database.Database;
  /** The file, or `:memory:`. */
  readonly path: string;
  #refs = 0;

  constructor(db: Database.Database, path: string) {
    this.db = db;
    this.path = path;
  }

  /** A private read-only connection to the same file (long reads that must not block the shared one). */
  openReader(): Database.Database | undefined {
    if (this.path === ':memory:') return undefined;
    try {
      return new Database(this.path, { readonly: true, fileMustExist: true, timeout: 10_000 });
    } catch (e) {
      throw sqliteError('open', e);
    }
  }

  acquire(): Database.Database {
    if (!this.db.open) throw new StorageError('STORAGE_UNAVAILABLE', 'SQLite database is closed');
    this.#refs++;
    return this.db;
  }

  release(): void {
    if (this.#refs > 0 && --this.#refs === 0 && this.db.open) this.db.close();
  }
}

/** Opens (creating when absent, mode 0600) and migrates the database at `path` (`:memory:` works too). */
export function openSqlite(path: string): SqliteHandle {
  let db: Database.Database;
  try {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // Secrets live in this file: create it private before SQLite opens it (the -wal and -shm files
      // inherit the database file's permissions).
      closeSync(openSync(path, 'a', 0o600));
    }
    db = new Database(path, { timeout: 10_000 });
  } catch (e) {
    throw sqliteError('open', e);
  }
  try {
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (path !== ':memory:' && String(mode).toLowerCase() !== 'wal') {
      throw new StorageError('STORAGE_UNAVAILABLE', `SQLite could not enable WAL mode (got ${String(mode)})`);
    }
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    migrate(db);
  } catch (e) {
    db.close();
    throw sqliteError('migration', e);
  }
  return new SqliteHandle(db, path);
}

function migrate(db: Database.Database): void {
  // IMMEDIATE: two processes opening a fresh file at once serialise here instead of both migrating.
  db.transaction(() => {
    db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at TEXT NOT NULL
    )`);
    const row = db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null };
    const current = row.v ?? 0;
    if (current > SQLITE_SCHEMA_VERSION) {
      throw new StorageError(
        'STORAGE_CORRUPT',
        `SQLite schema version ${current} is newer than this cocoseal supports (${SQLITE_SCHEMA_VERSION}); upgrade cocoseal`,
      );
    }
    const record = db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)');
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      db.exec(m.sql);
      record.run(m.version, m.name, new Date().toISOString());
    }
  }).immediate();
}
