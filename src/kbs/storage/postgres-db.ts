import pg from 'pg';
import type { PostgresConfig } from './config.js';
import { StorageError } from './errors.js';

/*
 * PostgreSQL connection pool and schema migrations, shared by the storage, session store and audit
 * log. Several KBS replicas may start at the same moment against one database: migrations run in a
 * single transaction behind a transaction-scoped advisory lock keyed on the schema name, so exactly
 * one replica applies each migration and the others wait, then find it recorded.
 */

interface Migration {
  version: number;
  name: string;
  sql: (s: string) => string;
}

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'kv, sessions, audit log',
    // COLLATE "C": byte order for keys, so list order and prefix ranges match SQLite and Memory.
    sql: (s) => `
      CREATE TABLE ${s}.cocoseal_kv (
        namespace TEXT COLLATE "C" NOT NULL,
        key TEXT COLLATE "C" NOT NULL,
        value BYTEA NOT NULL,
        PRIMARY KEY (namespace, key)
      );
      CREATE TABLE ${s}.cocoseal_sessions (
        id TEXT PRIMARY KEY,
        data BYTEA NOT NULL,
        expires_at BIGINT NOT NULL
      );
      CREATE INDEX cocoseal_sessions_expires_at ON ${s}.cocoseal_sessions (expires_at);
      CREATE TABLE ${s}.cocoseal_audit_log (
        seq BIGINT PRIMARY KEY,
        time TEXT COLLATE "C" NOT NULL,
        kind TEXT NOT NULL,
        decision TEXT NOT NULL,
        reason TEXT,
        tee TEXT,
        evidence_digest TEXT,
        path TEXT COLLATE "C",
        policy_id TEXT,
        policy_digest TEXT,
        action TEXT,
        actor TEXT,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      );
      CREATE INDEX cocoseal_audit_log_time ON ${s}.cocoseal_audit_log (time);
      CREATE INDEX cocoseal_audit_log_path ON ${s}.cocoseal_audit_log (path, seq);
      CREATE TABLE ${s}.cocoseal_audit_head (
        id INT PRIMARY KEY CHECK (id = 1),
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL
      );
      INSERT INTO ${s}.cocoseal_audit_head (id, seq, hash) VALUES (1, 0, '${'0'.repeat(64)}');
    `,
  },
];

export const PG_SCHEMA_VERSION = MIGRATIONS.at(-1)!.version;
/** First key of the two-key advisory lock: constant for "cocoseal migrations". */
const MIGRATION_LOCK_CLASS = 0x636f636f; // "coco"

const UNAVAILABLE_CODES = new Set(['57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08006']);

/** Maps a pg error to a StorageError; the message names the SQLSTATE, never a value or the URL. */
export function pgError(what: string, e: unknown): StorageError {
  if (e instanceof StorageError) return e;
  const code = String((e as { code?: string })?.code ?? 'unknown');
  if (code === 'XX001' || code === 'XX002') {
    return new StorageError('STORAGE_CORRUPT', `PostgreSQL ${what} failed (${code}: data corrupted)`, {
      cause: e,
    });
  }
  const hint = UNAVAILABLE_CODES.has(code) || code.startsWith('E') ? ': is the database reachable?' : '';
  return new StorageError('STORAGE_UNAVAILABLE', `PostgreSQL ${what} failed (${code})${hint}`, { cause: e });
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export class PgHandle {
  readonly pool: pg.Pool;
  /** Quoted schema name to prefix table names with. */
  readonly schema: string;
  #refs = 0;
  #ended = false;

  constructor(pool: pg.Pool, schema: string) {
    this.pool = pool;
    this.schema = quoteIdent(schema);
  }

  /** Fully qualified table name. */
  table(name: 'kv' | 'sessions' | 'audit_log' | 'audit_head'): string {
    return `${this.schema}.cocoseal_${name}`;
  }

  acquire(): pg.Pool {
    if (this.#ended) throw new StorageError('STORAGE_UNAVAILABLE', 'PostgreSQL pool is closed');
    this.#refs++;
    return this.pool;
  }

  async release(): Promise<void> {
    if (this.#refs > 0 && --this.#refs === 0) await this.end();
  }

  async end(): Promise<void> {
    if (this.#ended) return;
    this.#ended = true;
    await this.pool.end();
  }
}

export function poolConfig(c: PostgresConfig): pg.PoolConfig {
  const base: pg.PoolConfig = {
    max: c.poolSize ?? 10,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    application_name: 'cocoseal-kbs',
    // A stuck lock or server must fail a request, not hang it (including waits on the audit head).
    statement_timeout: 30_000,
  };
  if (c.url) return { ...base, connectionString: c.url };
  return { ...base, host: c.host, port: c.port, database: c.db, user: c.username, password: c.password };
}

/** Connects, applies pending migrations, and returns a handle with no users yet. */
export async function openPostgres(c: PostgresConfig): Promise<PgHandle> {
  const schema = c.schema ?? 'public';
  const pool = new pg.Pool(poolConfig(c));
  // An idle client losing its connection emits 'error' on the pool; without a listener that would
  // crash the process. The pool discards the client; the next query reconnects.
  pool.on('error', () => {});
  const handle = new PgHandle(pool, schema);
  try {
    await migrate(pool, schema, handle.schema);
  } catch (e) {
    await pool.end().catch(() => {});
    throw pgError('migration', e);
  }
  return handle;
}

async function migrate(pool: pg.Pool, schema: string, s: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [MIGRATION_LOCK_CLASS, schema]);
    if (schema !== 'public') await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.cocoseal_schema_migrations (
      version INT PRIMARY KEY,
      name TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )`);
    const r = await client.query<{ v: number | null }>(
      `SELECT max(version) AS v FROM ${s}.cocoseal_schema_migrations`,
    );
    const current = r.rows[0]?.v ?? 0;
    if (current > PG_SCHEMA_VERSION) {
      throw new StorageError(
        'STORAGE_CORRUPT',
        `PostgreSQL schema version ${current} is newer than this cocoseal supports (${PG_SCHEMA_VERSION}); upgrade cocoseal`,
      );
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      await client.query(m.sql(s));
      await client.query(`INSERT INTO ${s}.cocoseal_schema_migrations (version, name) VALUES ($1, $2)`, [
        m.version,
        m.name,
      ]);
    }
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}
