import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { SqliteAuditLog } from '../src/kbs/audit/sqlite.js';
import { PgStorage } from '../src/kbs/storage/postgres.js';
import { openPostgres } from '../src/kbs/storage/postgres-db.js';
import { SqliteStorage } from '../src/kbs/storage/sqlite.js';
import { openSqlite } from '../src/kbs/storage/sqlite-db.js';
import type { Storage } from '../src/kbs/storage/storage.js';
import { COUNTER_KEY, CRASH_NS, dataKey, expectedValue } from './fixtures/crash-values.js';
import { DATABASE_URL, dropSchema, tempDir, uniqueSchema } from './fixtures/storage-backends.js';
import { WriterProcess } from './fixtures/writer-process.js';
import { needs, skipUnless } from './helpers/components.js';

/*
 * Several KBS replicas on one database: no lost or half-written values under concurrent writers, no
 * stale reads, exactly one winner for create-only writes. PostgreSQL replicas are separate pools (as
 * separate processes would have); SQLite writers are separate processes on one file.
 */

/** A self-checking value: random body followed by its SHA-256, so a mixed or torn value is detected. */
function sealedValue(size: number): Uint8Array {
  const body = randomBytes(size);
  return new Uint8Array(Buffer.concat([body, createHash('sha256').update(body).digest()]));
}

function isSealed(v: Uint8Array): boolean {
  const b = Buffer.from(v);
  if (b.length < 32) return false;
  return createHash('sha256')
    .update(b.subarray(0, b.length - 32))
    .digest()
    .equals(b.subarray(b.length - 32));
}

async function twoReplicas(fn: (a: Storage, b: Storage) => Promise<void>): Promise<void> {
  const schema = uniqueSchema('rep');
  const cfg = { type: 'postgres' as const, url: DATABASE_URL, schema, poolSize: 5 };
  // Open concurrently: both run migrations at once and must not race (advisory lock).
  const [ha, hb] = await Promise.all([openPostgres(cfg), openPostgres(cfg)]);
  const a = new PgStorage(ha);
  const b = new PgStorage(hb);
  try {
    await fn(a, b);
  } finally {
    await a.close();
    await b.close();
    await dropSchema(schema);
  }
}

const pgSkip = { skip: skipUnless(needs.postgres) };

test('PostgreSQL: concurrent writers from two replicas never lose or tear a value', pgSkip, () =>
  twoReplicas(async (a, b) => {
    const keys = ['hot/a/1', 'hot/a/2', 'hot/a/3'];
    const written = new Map<string, Set<string>>(keys.map((k) => [k, new Set()]));
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 240; i++) {
      const key = keys[i % keys.length];
      // Values up to 256 KiB: large enough to span many TOAST chunks.
      const v = sealedValue(i % 8 === 0 ? 256 * 1024 : 64 + i);
      written.get(key)!.add(Buffer.from(v).toString('hex'));
      writes.push((i % 2 ? a : b).set('repository', key, v));
    }
    // Readers on both replicas while writes are in flight: every value seen is complete.
    const reads: Promise<void>[] = [];
    for (let i = 0; i < 120; i++) {
      reads.push(
        (i % 2 ? b : a).get('repository', keys[i % keys.length]).then((v) => {
          if (v) assert.ok(isSealed(v), 'a reader saw a torn value');
        }),
      );
    }
    await Promise.all([...writes, ...reads]);
    for (const k of keys) {
      const va = await a.get('repository', k);
      const vb = await b.get('repository', k);
      assert.ok(va && vb && isSealed(va));
      assert.deepEqual(new Uint8Array(va), new Uint8Array(vb), 'replicas disagree (stale read)');
      assert.ok(written.get(k)!.has(Buffer.from(va).toString('hex')), 'final value was never written');
    }
  }),
);

test('PostgreSQL: a write on one replica is read at once on the other (no stale cache)', pgSkip, () =>
  twoReplicas(async (a, b) => {
    for (let i = 0; i < 50; i++) {
      const v = sealedValue(16);
      await a.set('kbs', 'resource-policy', v);
      assert.deepEqual(new Uint8Array((await b.get('kbs', 'resource-policy'))!), v);
      if (i % 5 === 0) {
        assert.equal(await b.delete('kbs', 'resource-policy'), true);
        assert.equal(await a.get('kbs', 'resource-policy'), undefined);
        assert.deepEqual(await a.list('kbs'), []);
      }
    }
  }),
);

test('PostgreSQL: create-only writes racing on two replicas have exactly one winner', pgSkip, () =>
  twoReplicas(async (a, b) => {
    for (let round = 0; round < 5; round++) {
      const key = `signer/key/${round}`;
      const values = Array.from({ length: 20 }, () => sealedValue(32));
      const results = await Promise.allSettled(
        values.map((v, i) => (i % 2 ? a : b).set('signer_key', key, v, { overwrite: false })),
      );
      const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
      assert.equal(winners.length, 1, `round ${round}: ${winners.length} winners`);
      for (const r of results) {
        if (r.status === 'rejected') assert.equal((r.reason as { code?: string }).code, 'ALREADY_EXISTS');
      }
      assert.deepEqual(new Uint8Array((await a.get('signer_key', key))!), values[winners[0]]);
    }
  }),
);

test('SQLite: three writer processes on one file commit everything and keep one audit chain', async () => {
  const t = await tempDir('rep-sqlite');
  const path = `${t.dir}/kbs.sqlite`;
  const n = 30;
  const writers = ['p0', 'p1', 'p2'].map((tag) => new WriterProcess(['sqlite', path, tag, String(n)]));
  try {
    await Promise.all(writers.map((w) => w.loaded()));
    for (const w of writers) w.go(); // all open (and migrate) the fresh file at once
    const codes = await Promise.all(writers.map((w) => w.waitExit()));
    assert.deepEqual(codes, [0, 0, 0], writers.map((w) => w.stderr).join('\n'));
    const h = openSqlite(path);
    const s = new SqliteStorage(h);
    const audit = new SqliteAuditLog(h);
    try {
      for (const tag of ['p0', 'p1', 'p2']) {
        for (let i = 0; i < n; i++) {
          assert.deepEqual(
            new Uint8Array((await s.get(CRASH_NS, dataKey(tag, i)))!),
            expectedValue(dataKey(tag, i)),
          );
        }
      }
      assert.match(new TextDecoder().decode(await s.get(CRASH_NS, COUNTER_KEY)), /^p[012]:29$/);
      const v = await audit.verify();
      assert.equal(v.ok && v.count, 3 * n);
    } finally {
      await audit.close();
      await s.close();
    }
  } finally {
    await Promise.all(writers.map((w) => w.kill()));
    await t.cleanup();
  }
});
