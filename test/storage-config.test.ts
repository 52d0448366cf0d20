import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'smol-toml';
import { storageConfigFromToml, validateStorageConfig } from '../src/kbs/storage/config.js';
import { StorageError } from '../src/kbs/storage/errors.js';

/* `[storage_backend]` (kbs-protocol.md §10, §11) to StorageConfig. */

function fromToml(text: string, env: NodeJS.ProcessEnv = {}) {
  return storageConfigFromToml((parse(text) as Record<string, unknown>).storage_backend, env);
}

function invalid(fn: () => unknown, match: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof StorageError);
    assert.equal(e.code, 'INVALID_CONFIG');
    assert.match(e.message, match);
    return true;
  });
}

test('absent table and the spec minimal config give Memory', () => {
  assert.deepEqual(fromToml('[http_server]\n'), { type: 'memory' });
  assert.deepEqual(fromToml('[storage_backend]\nstorage_type = "Memory"\n'), { type: 'memory' });
  assert.deepEqual(fromToml('[storage_backend]\n'), { type: 'memory' });
});

test('LocalFs with and without dir_path', () => {
  assert.deepEqual(fromToml('[storage_backend]\nstorage_type = "LocalFs"\n'), {
    type: 'localfs',
    dirPath: '/opt/confidential-containers/storage/local_fs',
  });
  assert.deepEqual(
    fromToml(`[storage_backend]
storage_type = "LocalFs"
[storage_backend.backends.local_fs]
dir_path = "/srv/kbs"
audit_path = "/srv/kbs-audit.sqlite"
`),
    { type: 'localfs', dirPath: '/srv/kbs', auditPath: '/srv/kbs-audit.sqlite' },
  );
});

test('Sqlite path', () => {
  assert.deepEqual(
    fromToml('[storage_backend]\nstorage_type = "Sqlite"\nbackends.sqlite.path = "/var/lib/kbs.db"\n'),
    {
      type: 'sqlite',
      path: '/var/lib/kbs.db',
    },
  );
});

test('Postgres with upstream keys, our url, pool_size and schema, and env POSTGRES_URL', () => {
  const upstream = `[storage_backend]
storage_type = "Postgres"
[storage_backend.backends.postgres]
host = "db.internal"
port = 6543
db = "kbs"
username = "kbs"
password = "s3cret"
pool_size = 4
schema = "kbs_prod"
`;
  assert.deepEqual(fromToml(upstream), {
    type: 'postgres',
    host: 'db.internal',
    port: 6543,
    db: 'kbs',
    username: 'kbs',
    password: 's3cret',
    poolSize: 4,
    schema: 'kbs_prod',
  });
  assert.deepEqual(fromToml(upstream, { POSTGRES_URL: 'postgres://u:p@h/d' }), {
    type: 'postgres',
    url: 'postgres://u:p@h/d',
    poolSize: 4,
    schema: 'kbs_prod',
  });
  assert.deepEqual(
    fromToml(
      '[storage_backend]\nstorage_type = "Postgres"\nbackends.postgres.url = "postgresql://x@y/z?sslmode=verify-full"\n',
    ),
    { type: 'postgres', url: 'postgresql://x@y/z?sslmode=verify-full' },
  );
});

test('session_storage_type Redis (url from config or REDIS_URL) and Memory', () => {
  const base =
    '[storage_backend]\nstorage_type = "Postgres"\nsession_storage_type = "Redis"\nbackends.postgres.url = "postgres://h/d"\n';
  assert.deepEqual(fromToml(`${base}backends.redis.url = "rediss://cache:6380"\n`).sessions, {
    type: 'redis',
    url: 'rediss://cache:6380',
  });
  assert.deepEqual(fromToml(base, { REDIS_URL: 'redis://env:6379' }).sessions, {
    type: 'redis',
    url: 'redis://env:6379',
  });
  invalid(() => fromToml(base), /needs \[storage_backend\.backends\.redis\] url/);
  assert.deepEqual(
    fromToml(
      '[storage_backend]\nstorage_type = "Sqlite"\nsession_storage_type = "Sqlite"\nbackends.sqlite.path = "/x"\n',
    ),
    { type: 'sqlite', path: '/x' },
  );
  assert.deepEqual(
    fromToml('[storage_backend]\nstorage_type = "LocalFs"\nsession_storage_type = "Memory"\n').sessions,
    {
      type: 'memory',
    },
  );
});

test('bad input is a typed INVALID_CONFIG error that never echoes secrets', () => {
  invalid(() => fromToml('[storage_backend]\nstorage_type = "Mongo"\n'), /storage_type must be/);
  invalid(() => fromToml('[storage_backend]\nstorage_type = "LocalJson"\n'), /LocalJson is not supported/);
  invalid(() => fromToml('[storage_backend]\nstorage_type = "Redis"\n'), /only as session_storage_type/);
  invalid(() => fromToml('[storage_backend]\nstorage_typo = "Memory"\n'), /unknown key "storage_typo"/);
  invalid(
    () => fromToml('[storage_backend]\nstorage_type = "Postgres"\nbackends.postgres.host = "h"\n'),
    /db and username are required/,
  );
  invalid(
    () =>
      fromToml(
        '[storage_backend]\nstorage_type = "Postgres"\nbackends.postgres = { db = "d", username = "u", port = 70000 }\n',
      ),
    /port must be an integer/,
  );
  invalid(
    () =>
      fromToml(
        '[storage_backend]\nstorage_type = "Postgres"\nbackends.postgres = { url = "postgres://h/d", host = "h" }\n',
      ),
    /either url or host/,
  );
  invalid(
    () =>
      fromToml(
        '[storage_backend]\nstorage_type = "Postgres"\nbackends.postgres = { url = "postgres://h/d", schema = "Bad-Name" }\n',
      ),
    /schema must match/,
  );
  invalid(
    () => fromToml('[storage_backend]\nsession_storage_type = "Postgres"\n'),
    /session_storage_type must be/,
  );
  invalid(() => storageConfigFromToml('Memory'), /must be a table/);
  // A password or URL that fails validation is not repeated in the message.
  for (const text of [
    '[storage_backend]\nstorage_type = "Postgres"\nbackends.postgres = { url = "mysql://user:hunter2@h/d" }\n',
    '[storage_backend]\nstorage_type = "Postgres"\nbackends.postgres = { url = "not a url hunter2" }\n',
  ]) {
    assert.throws(
      () => fromToml(text),
      (e: Error) => !e.message.includes('hunter2'),
    );
  }
  assert.throws(
    () => validateStorageConfig({ type: 'postgres', db: 'd', username: 'u', password: 42 }),
    (e: Error) => e instanceof StorageError && !e.message.includes('42'),
  );
});

test('validateStorageConfig checks programmatic configs', () => {
  assert.deepEqual(validateStorageConfig({ type: 'sqlite', path: '/a' }), { type: 'sqlite', path: '/a' });
  assert.deepEqual(validateStorageConfig({ type: 'memory', sessions: { type: 'redis', url: 'redis://h' } }), {
    type: 'memory',
    sessions: { type: 'redis', url: 'redis://h' },
  });
  invalid(() => validateStorageConfig({ type: 'sqlite', path: 5 }), /sqlite path/);
  invalid(() => validateStorageConfig({ type: 'memory', extra: 1 }), /unknown key "extra"/);
  invalid(
    () => validateStorageConfig({ type: 'memory', sessions: { type: 'redis', url: 'http://h' } }),
    /redis url must use/,
  );
  invalid(() => validateStorageConfig(null), /must be an object/);
});
