import { MemoryAuditLog } from '../audit/memory.js';
import { PgAuditLog } from '../audit/postgres.js';
import { SqliteAuditLog } from '../audit/sqlite.js';
import type { AuditLog } from '../audit/types.js';
import { type StorageConfig, validateStorageConfig } from './config.js';
import { LocalFsStorage } from './localfs.js';
import { MemorySessionStore, MemoryStorage } from './memory.js';
import { PgSessionStore, PgStorage } from './postgres.js';
import { openPostgres } from './postgres-db.js';
import { RedisSessionStore } from './redis-sessions.js';
import type { SessionStore } from './session-store.js';
import { SqliteSessionStore, SqliteStorage } from './sqlite.js';
import { openSqlite } from './sqlite-db.js';
import type { Storage } from './storage.js';

export { AuditError, type AuditErrorCode } from '../audit/errors.js';
export { MemoryAuditLog } from '../audit/memory.js';
export { auditDigest, GENESIS_HASH } from '../audit/record.js';
export type {
  AuditDecision,
  AuditEntry,
  AuditKind,
  AuditLog,
  AuditQuery,
  AuditRecord,
  AuditVerifyResult,
} from '../audit/types.js';
export {
  type BackendConfig,
  type PostgresConfig,
  type SessionConfig,
  type StorageConfig,
  storageConfigFromToml,
  validateStorageConfig,
} from './config.js';
export { StorageError, type StorageErrorCode } from './errors.js';
export { MemorySessionStore, MemoryStorage } from './memory.js';
export { NS } from './namespaces.js';
export type { SessionStore } from './session-store.js';
export type { Storage } from './storage.js';

export interface OpenedStorage {
  storage: Storage;
  sessions: SessionStore;
  audit: AuditLog;
  /** Closes all three and the connection they share. */
  close(): Promise<void>;
}

/**
 * Opens the configured backend (validating `config` first): storage, session store and audit log
 * share one database (SQLite file or PostgreSQL pool), migrated on open. LocalFs keeps its files in
 * the upstream layout, its audit log in SQLite at `auditPath` (default `<dirPath>.audit.sqlite`) and
 * sessions in memory unless Redis is configured.
 */
export async function openStorage(config: StorageConfig): Promise<OpenedStorage> {
  const c = validateStorageConfig(config);
  let storage: Storage;
  let sessions: SessionStore | undefined;
  let audit: AuditLog;
  switch (c.type) {
    case 'memory':
      storage = new MemoryStorage();
      audit = new MemoryAuditLog();
      break;
    case 'sqlite': {
      const h = openSqlite(c.path);
      storage = new SqliteStorage(h);
      audit = new SqliteAuditLog(h);
      if (!c.sessions) sessions = new SqliteSessionStore(h);
      break;
    }
    case 'localfs': {
      storage = new LocalFsStorage(c.dirPath);
      audit = new SqliteAuditLog(openSqlite(c.auditPath ?? `${c.dirPath.replace(/\/+$/, '')}.audit.sqlite`));
      break;
    }
    case 'postgres': {
      const h = await openPostgres(c);
      storage = new PgStorage(h);
      audit = new PgAuditLog(h);
      if (!c.sessions) sessions = new PgSessionStore(h);
      break;
    }
  }
  if (!sessions) {
    try {
      sessions =
        c.sessions?.type === 'redis'
          ? await RedisSessionStore.connect(c.sessions.url, c.sessions.keyPrefix ?? 'kbs_protocol_session:')
          : new MemorySessionStore();
    } catch (e) {
      await Promise.allSettled([storage.close(), audit.close()]);
      throw e;
    }
  }
  const s = sessions;
  let closing: Promise<void> | undefined;
  return {
    storage,
    sessions: s,
    audit,
    close() {
      closing ??= Promise.allSettled([s.close(), audit.close(), storage.close()]).then(() => undefined);
      return closing;
    },
  };
}
