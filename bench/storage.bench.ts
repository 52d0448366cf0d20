/*
 * Storage benchmark: point-read latency through the Storage API with a small and a large number of
 * stored resources, per backend, and read throughput. Not a test.
 *
 *   npx tsx bench/storage.bench.ts
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test COCOSEAL_BENCH_LARGE=100000 npx tsx bench/storage.bench.ts
 *
 * Env: COCOSEAL_BENCH_SMALL (1000), COCOSEAL_BENCH_LARGE (1000000), COCOSEAL_BENCH_READS (5000 timed
 * point reads per size), COCOSEAL_BENCH_CONCURRENCY (32), COCOSEAL_BENCH_VALUE_BYTES (128). PostgreSQL
 * runs when DATABASE_URL is set, in a private schema dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PgStorage } from '../src/kbs/storage/postgres.js';
import { SqliteStorage } from '../src/kbs/storage/sqlite.js';
import { benchEntries, benchResourcePath, percentile, table } from './harness.js';

const SMALL = Number(process.env.COCOSEAL_BENCH_SMALL ?? 1000);
const LARGE = Number(process.env.COCOSEAL_BENCH_LARGE ?? 1_000_000);
const READS = Number(process.env.COCOSEAL_BENCH_READS ?? 5000);
const CONCURRENCY = Number(process.env.COCOSEAL_BENCH_CONCURRENCY ?? 32);
const VALUE_BYTES = Number(process.env.COCOSEAL_BENCH_VALUE_BYTES ?? 128);
const NS = 'repository';

interface BulkStorage {
  get(ns: string, key: string): Promise<Uint8Array | undefined>;
  setMany(ns: string, entries: Iterable<[string, Uint8Array]>): Promise<number>;
  close(): Promise<void>;
}

const key = benchResourcePath;

/** Sequential point reads of random existing keys: latency in microseconds. */
async function latency(s: BulkStorage, n: number): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < 1000; i++) await s.get(NS, key(Math.floor(Math.random() * n))); // warm-up
  const t: number[] = [];
  for (let i = 0; i < READS; i++) {
    const k = key(Math.floor(Math.random() * n));
    const t0 = process.hrtime.bigint();
    const v = await s.get(NS, k);
    t.push(Number(process.hrtime.bigint() - t0) / 1000);
    if (!v) throw new Error(`bench: ${k} missing`);
  }
  t.sort((a, b) => a - b);
  return { p50: percentile(t, 50), p99: percentile(t, 99) };
}

/** Concurrent point reads: operations per second. */
async function throughput(s: BulkStorage, n: number): Promise<number> {
  const total = READS * 2;
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < total) await s.get(NS, key(Math.floor(Math.random() * n)));
    }),
  );
  return total / ((performance.now() - t0) / 1000);
}

interface Row {
  backend: string;
  n: number;
  loadS: number;
  p50: number;
  p99: number;
  ops: number;
}

async function run(backend: string, s: BulkStorage): Promise<Row[]> {
  const rows: Row[] = [];
  let loaded = 0;
  for (const n of [SMALL, LARGE]) {
    const t0 = performance.now();
    await s.setMany(NS, benchEntries(loaded, n, VALUE_BYTES));
    const loadS = (performance.now() - t0) / 1000;
    loaded = n;
    const { p50, p99 } = await latency(s, n);
    const ops = await throughput(s, n);
    rows.push({ backend, n, loadS, p50, p99, ops });
    process.stderr.write(`  ${backend} ${n}: loaded in ${loadS.toFixed(1)} s\n`);
  }
  return rows;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'cocoseal-bench-'));
  try {
    const s = SqliteStorage.open(join(dir, 'bench.sqlite'));
    try {
      rows.push(...(await run('sqlite', s)));
    } finally {
      await s.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const url = process.env.DATABASE_URL;
  if (url) {
    const schema = `bench_${process.pid}_${randomBytes(3).toString('hex')}`;
    const s = await PgStorage.open({ type: 'postgres', url, schema, poolSize: 10 });
    try {
      rows.push(...(await run('postgres', s)));
    } finally {
      await s.close();
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    }
  } else {
    process.stderr.write('DATABASE_URL not set: PostgreSQL skipped\n');
  }

  console.log(
    `\nStorage point reads: ${VALUE_BYTES}-byte values, ${READS} sequential timed reads, throughput at concurrency ${CONCURRENCY}`,
  );
  table(
    rows.map((r) => ({
      backend: r.backend,
      resources: r.n,
      'load s': r.loadS,
      'p50 µs': r.p50,
      'p99 µs': r.p99,
      'reads/s': Math.round(r.ops),
    })),
  );
  console.log('');
  for (const b of ['sqlite', 'postgres']) {
    const [small, large] = rows.filter((r) => r.backend === b);
    if (small && large) {
      console.log(`${b}: p50 ratio ${large.n}/${small.n} = ${(large.p50 / small.p50).toFixed(2)}`);
    }
  }
  for (const n of [SMALL, LARGE]) {
    const sq = rows.find((r) => r.backend === 'sqlite' && r.n === n);
    const pgr = rows.find((r) => r.backend === 'postgres' && r.n === n);
    if (sq && pgr) {
      console.log(
        `throughput ratio postgres/sqlite at ${n}: ${(pgr.ops / sq.ops).toFixed(2)}; p50 ratio ${(pgr.p50 / sq.p50).toFixed(2)}`,
      );
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
