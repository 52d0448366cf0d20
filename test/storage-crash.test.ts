import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { PgAuditLog } from '../src/kbs/audit/postgres.js';
import { SqliteAuditLog } from '../src/kbs/audit/sqlite.js';
import type { AuditLog } from '../src/kbs/audit/types.js';
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
 * Durability: a writer acknowledges each committed write, and is killed with SIGKILL at a random
 * point (during startup/migration, or mid-write after a random number of acknowledgements). After
 * every kill the store must open without repair (SQLite: integrity_check = ok), every acknowledged
 * write must read back byte-exact, the write in flight must be absent or complete, and the audit
 * chain must verify. The next writer is pre-loaded while the current one runs, so the loop costs
 * little more than the writes themselves.
 */

const ITERATIONS = Number(process.env.COCOSEAL_CRASH_ITERATIONS ?? 100);
/** Pre-started writers: loading dominates a restart (more under tsx, which compiles on load). */
const SPARES = import.meta.url.endsWith('.ts') ? 4 : 2;

/** Small seeded PRNG (mulberry32): a failure prints the seed to reproduce it. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Opened {
  storage: Storage;
  audit: AuditLog;
  /** Extra whole-store check (SQLite integrity_check). */
  check?: () => void;
  close(): Promise<void>;
}

async function crashLoop(
  name: string,
  target: string,
  open: () => Promise<Opened>,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const seed = Number(process.env.COCOSEAL_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const rand = rng(seed);
  const ctx = `${name} (seed ${seed})`;
  const spawnWriter = (i: number) => new WriterProcess([name, target, `i${i}`], env);
  const allAcked: string[] = [];
  // Writers warming up (Node start and module load) while the current one runs and is checked.
  const spares: WriterProcess[] = [];
  let spawned = 0;
  const refill = () => {
    while (spares.length < SPARES && spawned < ITERATIONS) spares.push(spawnWriter(spawned++));
  };
  let startupKills = 0;
  try {
    refill();
    for (let i = 0; i < ITERATIONS; i++) {
      const w = spares.shift()!;
      refill();
      await w.loaded();
      w.go();
      if (rand() < 0.1) {
        // Kill during open/migration or the first write.
        await sleep(Math.floor(rand() * 15));
        startupKills++;
      } else {
        await w.waitAcks(1 + Math.floor(rand() * 6));
        await sleep(Math.floor(rand() * 3));
      }
      assert.ok(w.alive, `${ctx}: writer ${i} died on its own: ${w.stderr}`);
      await w.kill();

      const tag = `i${i}`;
      const acks = [...w.acks];
      const s = await open();
      try {
        s.check?.();
        for (const n of acks) {
          const got = await s.storage.get(CRASH_NS, dataKey(tag, n));
          assert.ok(got, `${ctx}: acknowledged write ${dataKey(tag, n)} is missing after kill ${i}`);
          assert.deepEqual(
            new Uint8Array(got),
            expectedValue(dataKey(tag, n)),
            `${ctx}: ${dataKey(tag, n)} torn`,
          );
          allAcked.push(dataKey(tag, n));
        }
        // The write in flight at the kill: absent or complete, never partial.
        const next = dataKey(tag, acks.length);
        const inflight = await s.storage.get(CRASH_NS, next);
        if (inflight)
          assert.deepEqual(new Uint8Array(inflight), expectedValue(next), `${ctx}: in-flight ${next} torn`);
        const present = await s.storage.list(CRASH_NS, `crash/${tag}/`);
        assert.ok(present.length <= acks.length + 1, `${ctx}: unexpected keys ${present.join(',')}`);
        const counter = new TextDecoder().decode(
          (await s.storage.get(CRASH_NS, COUNTER_KEY)) ?? new Uint8Array(),
        );
        if (acks.length > 0) {
          const m = /^i(\d+):(\d+)$/.exec(counter);
          assert.ok(
            m && Number(m[1]) === i && Number(m[2]) >= acks.at(-1)!,
            `${ctx}: counter ${counter} after ${acks.at(-1)}`,
          );
        }
        const v = await s.audit.verify();
        assert.ok(v.ok, `${ctx}: audit chain broken after kill ${i}: ${JSON.stringify(v)}`);
        assert.ok(
          v.count >= allAcked.length,
          `${ctx}: audit has ${v.count} records for ${allAcked.length} acked writes`,
        );
      } finally {
        await s.close();
      }
    }
  } finally {
    await Promise.all(spares.map((w) => w.kill()));
  }
  // Every write acknowledged over the whole run is still there.
  const s = await open();
  try {
    const keys = new Set(await s.storage.list(CRASH_NS, 'crash/'));
    for (const k of allAcked) assert.ok(keys.has(k), `${ctx}: ${k} lost by a later crash`);
  } finally {
    await s.close();
  }
  assert.ok(allAcked.length >= ITERATIONS * 0.5, `${ctx}: only ${allAcked.length} acknowledged writes`);
  process.stderr.write(
    `# crash ${ctx}: ${ITERATIONS} kills (${startupKills} during startup), ${allAcked.length} acked writes\n`,
  );
}

describe('SIGKILL durability', { concurrency: 2 }, () => {
  test(`SQLite: ${ITERATIONS} SIGKILLs lose no acknowledged write and need no repair`, async () => {
    const t = await tempDir('crash');
    const path = `${t.dir}/kbs.sqlite`;
    try {
      await crashLoop(
        'sqlite',
        path,
        async () => {
          const h = openSqlite(path);
          const storage = new SqliteStorage(h);
          const audit = new SqliteAuditLog(h);
          return {
            storage,
            audit,
            check: () => assert.equal(h.db.pragma('integrity_check', { simple: true }), 'ok'),
            async close() {
              await audit.close();
              await storage.close();
            },
          };
        },
        process.env,
      );
    } finally {
      await t.cleanup();
    }
  });

  test(`PostgreSQL: ${ITERATIONS} SIGKILLs lose no acknowledged write`, {
    skip: skipUnless(needs.postgres),
  }, async () => {
    const schema = uniqueSchema('crash');
    try {
      await crashLoop(
        'postgres',
        schema,
        async () => {
          const h = await openPostgres({ type: 'postgres', url: DATABASE_URL, schema, poolSize: 2 });
          const storage = new PgStorage(h);
          const audit = new PgAuditLog(h);
          return {
            storage,
            audit,
            async close() {
              await audit.close();
              await storage.close();
            },
          };
        },
        process.env,
      );
    } finally {
      await dropSchema(schema);
    }
  });
});
