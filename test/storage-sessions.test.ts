import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { MemorySessionStore } from '../src/kbs/storage/memory.js';
import { openPostgres, PgSessionStore } from '../src/kbs/storage/postgres.js';
import { RedisSessionStore } from '../src/kbs/storage/redis-sessions.js';
import type { SessionStore } from '../src/kbs/storage/session-store.js';
import { SqliteSessionStore } from '../src/kbs/storage/sqlite.js';
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

/* RCAR session store contract (kbs-protocol.md §3.2): expiry on read, sweep through an index or TTL. */

interface Backend {
  name: string;
  skip: string | false;
  make(): Promise<{ sessions: SessionStore; cleanup(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'memory',
    skip: false,
    make: async () => ({ sessions: new MemorySessionStore(), cleanup: async () => {} }),
  },
  {
    name: 'sqlite',
    skip: false,
    async make() {
      const t = await tempDir('sess-sqlite');
      return { sessions: new SqliteSessionStore(openSqlite(`${t.dir}/kbs.sqlite`)), cleanup: t.cleanup };
    },
  },
  {
    name: 'postgres',
    skip: skipUnless(needs.postgres),
    async make() {
      const schema = uniqueSchema('sess');
      const h = await openPostgres({ type: 'postgres', url: DATABASE_URL, schema, poolSize: 2 });
      return { sessions: new PgSessionStore(h), cleanup: () => dropSchema(schema) };
    },
  },
  {
    name: 'redis',
    skip: skipUnless(needs.redis),
    async make() {
      const prefix = `cocoseal-test:${process.pid}:${Date.now()}:`;
      return {
        sessions: await RedisSessionStore.connect(REDIS_URL!, prefix),
        async cleanup() {
          const r = new Redis(REDIS_URL!);
          try {
            const keys = await r.keys(`${prefix}*`);
            if (keys.length) await r.del(...keys);
          } finally {
            r.disconnect();
          }
        },
      };
    },
  },
];

const MIN = 60_000;

for (const b of backends) {
  describe(`SessionStore: ${b.name}`, { skip: b.skip }, () => {
    async function withSessions(fn: (s: SessionStore) => Promise<void>): Promise<void> {
      const { sessions, cleanup } = await b.make();
      try {
        await fn(sessions);
      } finally {
        await sessions.close();
        await cleanup();
      }
    }

    test('stores, replaces and deletes a session', () =>
      withSessions(async (s) => {
        const id = '4f2c3a0e9b1d4e6f8a7b6c5d4e3f2a1b';
        await s.put(id, enc('{"Authed":{}}'), Date.now() + 5 * MIN);
        assert.equal(dec(await s.get(id)), '{"Authed":{}}');
        await s.put(id, enc('{"Attested":{}}'), Date.now() + 5 * MIN);
        assert.equal(dec(await s.get(id)), '{"Attested":{}}');
        await s.delete(id);
        assert.equal(await s.get(id), undefined);
        await s.delete(id); // absent: no error
      }));

    test('an expired session reads as absent and is gone afterwards', () =>
      withSessions(async (s) => {
        const now = Date.now();
        await s.put('a1', enc('x'), now + 5 * MIN);
        assert.equal(dec(await s.get('a1', now + 5 * MIN - 1)), 'x');
        assert.equal(await s.get('a1', now + 5 * MIN), undefined);
        // Deleted on read: even a reader with an earlier clock no longer sees it (Redis keeps it until its TTL).
        if (b.name !== 'redis') assert.equal(await s.get('a1', now), undefined);
      }));

    test('a session put with a past expiry is not stored', () =>
      withSessions(async (s) => {
        await s.put('past', enc('x'), Date.now() - 1);
        assert.equal(await s.get('past', 0), undefined);
      }));

    test('sweep removes expired sessions only and counts them', () =>
      withSessions(async (s) => {
        const now = Date.now();
        for (let i = 0; i < 20; i++) await s.put(`s${i}`, enc(`v${i}`), now + (i + 1) * MIN);
        const removed = await s.sweep(now + 10.5 * MIN);
        // Redis expires by TTL on its own clock: nothing to sweep, and nothing expired yet.
        assert.equal(removed, b.name === 'redis' ? 0 : 10);
        for (let i = 0; i < 20; i++) {
          const v = await s.get(`s${i}`, now + 10.5 * MIN);
          assert.equal(dec(v), i < 10 ? undefined : `v${i}`);
        }
        assert.equal(await s.sweep(now), 0);
      }));

    test('unknown or malformed ids read as absent; malformed ids cannot be stored', () =>
      withSessions(async (s) => {
        assert.equal(await s.get('nope'), undefined);
        assert.equal(await s.get('../etc/passwd'), undefined);
        assert.equal(await s.get(''), undefined);
        await assert.rejects(s.put('a b', enc('x'), Date.now() + MIN), { code: 'INVALID_KEY' });
        await assert.rejects(s.put('ok', enc('x'), Number.NaN), { code: 'INVALID_KEY' });
      }));
  });
}

test('SQLite sweep and expiry use the expiry index, not a table scan', async () => {
  const t = await tempDir('sess-plan');
  const h = openSqlite(`${t.dir}/kbs.sqlite`);
  const db = h.acquire();
  try {
    const plan = db
      .prepare('EXPLAIN QUERY PLAN DELETE FROM sessions WHERE expires_at <= ?')
      .all(Date.now()) as { detail: string }[];
    const text = plan.map((p) => p.detail).join('\n');
    assert.match(text, /USING (COVERING )?INDEX sessions_expires_at/, text);
    assert.doesNotMatch(text, /SCAN sessions/, text);
  } finally {
    h.release();
    await t.cleanup();
  }
});

test('PostgreSQL sweep uses the expiry index on a large table', {
  skip: skipUnless(needs.postgres),
}, async () => {
  const schema = uniqueSchema('sessplan');
  const h = await openPostgres({ type: 'postgres', url: DATABASE_URL, schema, poolSize: 1 });
  const s = new PgSessionStore(h);
  try {
    const now = Date.now();
    // 20 000 live sessions, 10 expired: a sweep must touch the 10 through the index.
    await pgExec(
      `INSERT INTO "${schema}".cocoseal_sessions (id, data, expires_at)
       SELECT 'live' || g, '\\x00'::bytea, $1::bigint + g FROM generate_series(1, 20000) g
       UNION ALL SELECT 'old' || g, '\\x00'::bytea, $2::bigint - g FROM generate_series(1, 10) g`,
      [now + 5 * MIN, now],
    );
    await pgExec(`ANALYZE "${schema}".cocoseal_sessions`);
    const plan = await pgExec<{ 'QUERY PLAN': string }>(
      `EXPLAIN DELETE FROM "${schema}".cocoseal_sessions WHERE expires_at <= ${now}`,
    );
    const text = plan.map((r) => r['QUERY PLAN']).join('\n');
    assert.match(
      text,
      /Index (Only )?Scan using cocoseal_sessions_expires_at|Bitmap Index Scan on cocoseal_sessions_expires_at/,
      text,
    );
    assert.equal(await s.sweep(now), 10);
  } finally {
    await s.close();
    await dropSchema(schema);
  }
});

test('Redis sessions carry a TTL matching their expiry', { skip: skipUnless(needs.redis) }, async () => {
  const prefix = `cocoseal-test:${process.pid}:ttl:`;
  const s = await RedisSessionStore.connect(REDIS_URL!, prefix);
  const r = new Redis(REDIS_URL!);
  try {
    await s.put('ttl1', enc('x'), Date.now() + 5 * MIN);
    const pttl = await r.pttl(`${prefix}ttl1`);
    assert.ok(pttl > 5 * MIN - 10_000 && pttl <= 5 * MIN, `PTTL ${pttl}`);
    await s.delete('ttl1');
    assert.equal(await r.exists(`${prefix}ttl1`), 0);
  } finally {
    await s.close();
    r.disconnect();
  }
});

test('Redis: a wrong URL fails at connect with STORAGE_UNAVAILABLE', {
  skip: skipUnless(needs.redis),
}, async () => {
  await assert.rejects(RedisSessionStore.connect('redis://127.0.0.1:1', 'x:'), {
    code: 'STORAGE_UNAVAILABLE',
  });
});
