import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { openStorage } from '../src/kbs/storage/index.js';
import { openPostgres } from '../src/kbs/storage/postgres-db.js';
import { RedisSessionStore } from '../src/kbs/storage/redis-sessions.js';
import { openSqlite } from '../src/kbs/storage/sqlite-db.js';
import {
  DATABASE_URL,
  dec,
  dropSchema,
  enc,
  pgExec,
  REDIS_URL,
  tempDir,
  uniqueSchema,
} from './fixtures/storage-backends.js';
import { needs, skipUnless } from './helpers/components.js';

/* openStorage wiring, migrations, and file safety. */

test('openStorage(memory) gives working storage, sessions and audit', async () => {
  const s = await openStorage({ type: 'memory' });
  await s.storage.set('repository', 'a/b/c', enc('v'));
  await s.sessions.put('id1', enc('s'), Date.now() + 60_000);
  await s.audit.append({ kind: 'resource', decision: 'allow', path: 'a/b/c' });
  assert.equal(dec(await s.sessions.get('id1')), 's');
  assert.equal((await s.audit.verify()).ok, true);
  await s.close();
  await s.close(); // idempotent
});

test('openStorage(sqlite): one private file shared by storage, sessions and audit; closes once', async () => {
  const t = await tempDir('open-sqlite');
  const path = `${t.dir}/sub/kbs.sqlite`;
  try {
    const s = await openStorage({ type: 'sqlite', path });
    await s.storage.set('repository', 'a/b/c', enc('v'));
    await s.sessions.put('id1', enc('s'), Date.now() + 60_000);
    await s.audit.append({ kind: 'admin', decision: 'allow', action: 'set-resource', path: 'a/b/c' });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.equal((await stat(`${t.dir}/sub`)).mode & 0o777, 0o700);
    await s.close();
    const db = new Database(path, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal((db.prepare('SELECT count(*) AS n FROM kv').get() as { n: number }).n, 1);
      assert.equal((db.prepare('SELECT count(*) AS n FROM sessions').get() as { n: number }).n, 1);
      assert.equal((db.prepare('SELECT count(*) AS n FROM audit_log').get() as { n: number }).n, 1);
    } finally {
      db.close();
    }
    await assert.rejects(s.storage.get('repository', 'a/b/c'), { code: 'STORAGE_UNAVAILABLE' });
  } finally {
    await t.cleanup();
  }
});

test('SQLite: synchronous=FULL on every connection we open', async () => {
  const t = await tempDir('open-sync');
  try {
    const h = openSqlite(`${t.dir}/kbs.sqlite`);
    assert.equal(h.acquire().pragma('synchronous', { simple: true }), 2); // FULL
    h.release();
  } finally {
    await t.cleanup();
  }
});

test('SQLite: a database from a newer cocoseal is refused, not modified', async () => {
  const t = await tempDir('open-future');
  const path = `${t.dir}/kbs.sqlite`;
  try {
    openSqlite(path).acquire().close();
    const db = new Database(path);
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')").run();
    db.close();
    assert.throws(() => openSqlite(path), { code: 'STORAGE_CORRUPT', message: /newer than this cocoseal/ });
  } finally {
    await t.cleanup();
  }
});

test('SQLite: a file that is not a database is STORAGE_CORRUPT', async () => {
  const t = await tempDir('open-garbage');
  const path = `${t.dir}/kbs.sqlite`;
  try {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(path, Buffer.alloc(8192, 0x41));
    assert.throws(() => openSqlite(path), { code: 'STORAGE_CORRUPT' });
  } finally {
    await t.cleanup();
  }
});

test('openStorage(localfs) uses the upstream layout and a SQLite audit file beside it', async () => {
  const t = await tempDir('open-localfs');
  try {
    const s = await openStorage({ type: 'localfs', dirPath: `${t.dir}/local_fs` });
    await s.storage.set('repository', 'one/two/three', enc('x'));
    await s.audit.append({ kind: 'admin', decision: 'allow', path: 'one/two/three' });
    await s.close();
    assert.ok((await stat(`${t.dir}/local_fs/repository/one\\x2Ftwo\\x2Fthree`)).isFile());
    assert.ok((await stat(`${t.dir}/local_fs.audit.sqlite`)).isFile());
  } finally {
    await t.cleanup();
  }
});

test('PostgreSQL: ten replicas starting at once migrate exactly once', {
  skip: skipUnless(needs.postgres),
}, async () => {
  const schema = uniqueSchema('mig');
  const cfg = { type: 'postgres' as const, url: DATABASE_URL, schema, poolSize: 1 };
  try {
    const handles = await Promise.all(Array.from({ length: 10 }, () => openPostgres(cfg)));
    await Promise.all(handles.map((h) => h.end()));
    const rows = await pgExec<{ version: number }>(
      `SELECT version FROM "${schema}".cocoseal_schema_migrations`,
    );
    assert.deepEqual(
      rows.map((r) => r.version),
      [1],
    );
    const head = await pgExec<{ seq: string }>(`SELECT seq FROM "${schema}".cocoseal_audit_head`);
    assert.equal(head.length, 1);
  } finally {
    await dropSchema(schema);
  }
});

test('PostgreSQL: a schema from a newer cocoseal is refused', {
  skip: skipUnless(needs.postgres),
}, async () => {
  const schema = uniqueSchema('migfut');
  const cfg = { type: 'postgres' as const, url: DATABASE_URL, schema, poolSize: 1 };
  try {
    await (await openPostgres(cfg)).end();
    await pgExec(`INSERT INTO "${schema}".cocoseal_schema_migrations (version, name) VALUES (99, 'future')`);
    await assert.rejects(openPostgres(cfg), { code: 'STORAGE_CORRUPT', message: /newer than this cocoseal/ });
  } finally {
    await dropSchema(schema);
  }
});

test('PostgreSQL: an unreachable server is STORAGE_UNAVAILABLE without the password in the message', async () => {
  await assert.rejects(
    openStorage({
      type: 'postgres',
      host: '127.0.0.1',
      port: 1,
      db: 'kbs',
      username: 'kbs',
      password: 'hunter2',
    }),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, 'STORAGE_UNAVAILABLE');
      assert.ok(!e.message.includes('hunter2'));
      return true;
    },
  );
});

test('openStorage(postgres + redis sessions) keeps sessions in Redis', {
  skip: skipUnless(needs.postgres, needs.redis),
}, async () => {
  const schema = uniqueSchema('openrd');
  const keyPrefix = `cocoseal-test:${process.pid}:open:`;
  try {
    const s = await openStorage({
      type: 'postgres',
      url: DATABASE_URL,
      schema,
      sessions: { type: 'redis', url: REDIS_URL!, keyPrefix },
    });
    await s.sessions.put('rid', enc('r'), Date.now() + 60_000);
    const probe = await RedisSessionStore.connect(REDIS_URL!, keyPrefix);
    assert.equal(dec(await probe.get('rid')), 'r');
    await probe.delete('rid');
    await probe.close();
    const rows = await pgExec<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".cocoseal_sessions`);
    assert.equal(rows[0].n, '0');
    await s.close();
  } finally {
    await dropSchema(schema);
  }
});
