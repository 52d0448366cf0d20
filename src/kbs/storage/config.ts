import { StorageError } from './errors.js';

/*
 * Storage configuration: the typed object the KBS opens, and the parser from the upstream
 * `[storage_backend]` TOML table (kbs-protocol.md §10, §11). Error messages never repeat a password
 * or a connection URL (it may embed one).
 */

export interface PostgresConfig {
  type: 'postgres';
  /** `postgres://user:pass@host:port/db?sslmode=verify-full&sslrootcert=...`; exclusive with host/port/db/username/password. */
  url?: string;
  host?: string;
  port?: number;
  db?: string;
  username?: string;
  password?: string;
  /** Connections per process (default 10). */
  poolSize?: number;
  /** PostgreSQL schema holding our tables (default `public`); lets replicas share one database per deployment. */
  schema?: string;
}

export type BackendConfig =
  | { type: 'memory' }
  | { type: 'sqlite'; path: string }
  /** Upstream Trustee LocalFs layout, read and written in place (`auditPath`: the audit log's SQLite file). */
  | { type: 'localfs'; dirPath: string; auditPath?: string }
  | PostgresConfig;

export type SessionConfig = { type: 'redis'; url: string; keyPrefix?: string } | { type: 'memory' };

export type StorageConfig = BackendConfig & {
  /** Where RCAR sessions live; by default the main backend (Memory and LocalFs: process memory). */
  sessions?: SessionConfig;
};

export const DEFAULT_LOCAL_FS_DIR = '/opt/confidential-containers/storage/local_fs';
export const DEFAULT_SQLITE_PATH = '/opt/confidential-containers/storage/kbs.sqlite';
export const DEFAULT_REDIS_SESSION_PREFIX = 'kbs_protocol_session:';
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function bad(msg: string): StorageError {
  return new StorageError('INVALID_CONFIG', msg);
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function onlyKeys(where: string, t: Record<string, unknown>, allowed: readonly string[]): void {
  for (const k of Object.keys(t)) {
    if (!allowed.includes(k)) throw bad(`${where}: unknown key "${k}" (allowed: ${allowed.join(', ')})`);
  }
}

function str(where: string, v: unknown, opts: { secret?: boolean } = {}): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0) {
    throw bad(
      opts.secret
        ? `${where} must be a non-empty string`
        : `${where} must be a non-empty string, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function int(where: string, v: unknown, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    throw bad(`${where} must be an integer in ${min}..${max}`);
  }
  return n;
}

function checkUrl(where: string, url: string, schemes: string[]): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad(`${where} is not a valid URL`);
  }
  if (!schemes.includes(u.protocol)) throw bad(`${where} must use ${schemes.join(' or ')}`);
}

/** Validates a StorageConfig built in code (or by the TOML parser); returns a normalised copy. */
export function validateStorageConfig(config: unknown): StorageConfig {
  if (!isTable(config)) throw bad('storage config must be an object');
  let out: StorageConfig;
  switch (config.type) {
    case 'memory':
      onlyKeys('memory storage', config, ['type', 'sessions']);
      out = { type: 'memory' };
      break;
    case 'sqlite':
      onlyKeys('sqlite storage', config, ['type', 'path', 'sessions']);
      out = { type: 'sqlite', path: str('sqlite path', config.path) ?? DEFAULT_SQLITE_PATH };
      break;
    case 'localfs': {
      onlyKeys('localfs storage', config, ['type', 'dirPath', 'auditPath', 'sessions']);
      const dirPath = str('localfs dirPath', config.dirPath) ?? DEFAULT_LOCAL_FS_DIR;
      const auditPath = str('localfs auditPath', config.auditPath);
      out = auditPath ? { type: 'localfs', dirPath, auditPath } : { type: 'localfs', dirPath };
      break;
    }
    case 'postgres':
      out = validatePostgres(config);
      break;
    default:
      throw bad('storage type must be memory, sqlite, localfs or postgres');
  }
  if (config.sessions !== undefined) out.sessions = validateSessions(config.sessions);
  return out;
}

function validatePostgres(c: Record<string, unknown>): PostgresConfig {
  onlyKeys('postgres storage', c, [
    'type',
    'url',
    'host',
    'port',
    'db',
    'username',
    'password',
    'poolSize',
    'schema',
    'sessions',
  ]);
  const out: PostgresConfig = { type: 'postgres' };
  const url = str('postgres url', c.url, { secret: true });
  if (url !== undefined) {
    checkUrl('postgres url', url, ['postgres:', 'postgresql:']);
    for (const k of ['host', 'port', 'db', 'username', 'password'] as const) {
      if (c[k] !== undefined) throw bad(`postgres: give either url or ${k}, not both`);
    }
    out.url = url;
  } else {
    out.host = str('postgres host', c.host) ?? 'localhost';
    out.port = int('postgres port', c.port, 1, 65535) ?? 5432;
    out.db = str('postgres db', c.db);
    out.username = str('postgres username', c.username);
    if (!out.db || !out.username) throw bad('postgres: db and username are required when url is not given');
    const password = str('postgres password', c.password, { secret: true });
    if (password !== undefined) out.password = password;
  }
  const pool = int('postgres poolSize', c.poolSize, 1, 1000);
  if (pool !== undefined) out.poolSize = pool;
  const schema = str('postgres schema', c.schema);
  if (schema !== undefined) {
    if (!SCHEMA_NAME.test(schema)) throw bad('postgres schema must match [a-z_][a-z0-9_]{0,62}');
    out.schema = schema;
  }
  return out;
}

function validateSessions(s: unknown): SessionConfig {
  if (!isTable(s)) throw bad('sessions must be an object');
  if (s.type === 'memory') {
    onlyKeys('memory sessions', s, ['type']);
    return { type: 'memory' };
  }
  if (s.type !== 'redis') throw bad('sessions type must be redis or memory');
  onlyKeys('redis sessions', s, ['type', 'url', 'keyPrefix']);
  const url = str('redis url', s.url, { secret: true });
  if (!url) throw bad('redis sessions need a url');
  checkUrl('redis url', url, ['redis:', 'rediss:']);
  const keyPrefix = str('redis keyPrefix', s.keyPrefix);
  return keyPrefix ? { type: 'redis', url, keyPrefix } : { type: 'redis', url };
}

/**
 * Parses the upstream `[storage_backend]` table (already decoded from TOML/YAML/JSON):
 *
 * ```toml
 * [storage_backend]
 * storage_type = "Postgres"          # Memory (default) | LocalFs | Postgres | Sqlite (ours)
 * session_storage_type = "Redis"     # optional: Redis | Memory, or the storage_type itself
 * [storage_backend.backends.postgres]
 * host = "db"; port = 5432; db = "kbs"; username = "kbs"; password = "..."   # or url = "postgres://..."
 * pool_size = 10; schema = "public"  # ours
 * [storage_backend.backends.local_fs]
 * dir_path = "/opt/confidential-containers/storage/local_fs"
 * audit_path = "..."                 # ours
 * [storage_backend.backends.sqlite]
 * path = "/var/lib/kbs/kbs.sqlite"
 * [storage_backend.backends.redis]
 * url = "redis://..."                # key_prefix (ours)
 * ```
 *
 * As upstream, env `POSTGRES_URL` / `REDIS_URL` override the configured URLs. Absent table: Memory.
 * Throws StorageError `INVALID_CONFIG`.
 */
export function storageConfigFromToml(table: unknown, env: NodeJS.ProcessEnv = process.env): StorageConfig {
  if (table === undefined) return { type: 'memory' };
  if (!isTable(table)) throw bad('[storage_backend] must be a table');
  onlyKeys('[storage_backend]', table, ['storage_type', 'session_storage_type', 'backends']);
  const backends = table.backends ?? {};
  if (!isTable(backends)) throw bad('[storage_backend] backends must be a table');
  onlyKeys('[storage_backend.backends]', backends, [
    'memory',
    'local_fs',
    'local_json',
    'postgres',
    'sqlite',
    'redis',
  ]);
  const section = (name: string): Record<string, unknown> => {
    const t = backends[name] ?? {};
    if (!isTable(t)) throw bad(`[storage_backend.backends.${name}] must be a table`);
    return t;
  };

  const storageType = table.storage_type ?? 'Memory';
  let config: StorageConfig;
  switch (storageType) {
    case 'Memory':
      config = { type: 'memory' };
      break;
    case 'LocalFs': {
      const t = section('local_fs');
      onlyKeys('[storage_backend.backends.local_fs]', t, ['dir_path', 'audit_path']);
      config = { type: 'localfs', dirPath: str('local_fs dir_path', t.dir_path) ?? DEFAULT_LOCAL_FS_DIR };
      const auditPath = str('local_fs audit_path', t.audit_path);
      if (auditPath) config.auditPath = auditPath;
      break;
    }
    case 'Sqlite': {
      const t = section('sqlite');
      onlyKeys('[storage_backend.backends.sqlite]', t, ['path']);
      config = { type: 'sqlite', path: str('sqlite path', t.path) ?? DEFAULT_SQLITE_PATH };
      break;
    }
    case 'Postgres': {
      const t = section('postgres');
      onlyKeys('[storage_backend.backends.postgres]', t, [
        'url',
        'host',
        'port',
        'db',
        'username',
        'password',
        'pool_size',
        'schema',
      ]);
      const pg: Record<string, unknown> = {
        type: 'postgres',
        url: t.url,
        host: t.host,
        port: t.port,
        db: t.db,
        username: t.username,
        password: t.password,
        poolSize: t.pool_size,
        schema: t.schema,
      };
      if (env.POSTGRES_URL) {
        for (const k of ['host', 'port', 'db', 'username', 'password']) delete pg[k];
        pg.url = env.POSTGRES_URL;
      }
      config = validatePostgres(pg);
      break;
    }
    case 'LocalJson':
      throw bad(
        'storage_type LocalJson is not supported; use Sqlite, Postgres or LocalFs (kbs import-trustee migrates a LocalFs directory)',
      );
    case 'Redis':
      throw bad(
        'storage_type Redis is supported only as session_storage_type; use Sqlite or Postgres for storage',
      );
    default:
      throw bad(
        `storage_type must be Memory, LocalFs, Sqlite or Postgres, got ${JSON.stringify(storageType)}`,
      );
  }

  const sessionType = table.session_storage_type;
  if (sessionType !== undefined && sessionType !== storageType) {
    if (sessionType === 'Redis') {
      const t = section('redis');
      onlyKeys('[storage_backend.backends.redis]', t, ['url', 'key_prefix']);
      const url = env.REDIS_URL || str('redis url', t.url, { secret: true });
      if (!url)
        throw bad('session_storage_type Redis needs [storage_backend.backends.redis] url (or env REDIS_URL)');
      config.sessions = validateSessions({ type: 'redis', url, keyPrefix: t.key_prefix });
    } else if (sessionType === 'Memory') {
      config.sessions = { type: 'memory' };
    } else {
      throw bad(
        `session_storage_type must be Redis, Memory or the storage_type (${String(storageType)}), got ${JSON.stringify(sessionType)}`,
      );
    }
  }
  return validateStorageConfig(config);
}
