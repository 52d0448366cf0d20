/*
 * Resource GETs through a real KBS with few and with many stored resources, per storage backend.
 * The KBS is `bin/kbs` in a child process, made by `kbs init` (HTTPS on loopback, SQLite or
 * PostgreSQL storage); the requester attests once with the sample TEE and sends `Authorization:
 * Bearer`; every answer is a JWE for its TEE key (a sample of them is decrypted and checked). Each
 * size has its own database, bulk-loaded with the store's `setMany` before its KBS starts; all the
 * KBS processes (two sizes per backend) then run side by side and are measured in alternating
 * blocks, so that drift in the machine's load affects every backend and size alike.
 *
 * Measured: p50/p99 latency at concurrency 1, throughput (and p50/p99) at concurrency 32. Printed:
 * p50 ratio large/small per backend (target: at most 1.2), and PostgreSQL/SQLite throughput for one
 * replica. Not a test.
 *
 *   npm run build && node dist/bench/kbs-storage.bench.js
 *   DATABASE_URL=postgres://postgres@127.0.0.1:5432/test COCOSEAL_BENCH_LARGE=100000 npx tsx bench/kbs-storage.bench.ts
 *
 * Env: COCOSEAL_BENCH_SMALL (1000), COCOSEAL_BENCH_LARGE (1000000), COCOSEAL_BENCH_GETS (4000 timed
 * sequential GETs), COCOSEAL_BENCH_SECONDS (4, the concurrent phase), COCOSEAL_BENCH_CONCURRENCY
 * (32), COCOSEAL_BENCH_VALUE_BYTES (128), COCOSEAL_BENCH_BLOCKS (8). PostgreSQL runs when
 * DATABASE_URL is set and reachable, in private schemas dropped afterwards; otherwise SQLite only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import pg from 'pg';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { decryptResourceResponse } from '../src/crypto/jwe.js';
import { initKbs } from '../src/kbs/init/init.js';
import { RESOURCE_POLICIES } from '../src/kbs/policy/builtin.js';
import { PgStorage } from '../src/kbs/storage/postgres.js';
import { SqliteStorage } from '../src/kbs/storage/sqlite.js';
import { KbsAdminClient } from '../src/kbs-client/admin.js';
import { KbsClient } from '../src/kbs-client/client.js';
import { TeeKeyPair } from '../src/kbs-client/tee-key.js';
import { binDir } from '../test/helpers/paths.js';
import { benchEntries, benchResourcePath, percentile, table } from './harness.js';

const SMALL = Number(process.env.COCOSEAL_BENCH_SMALL ?? 1000);
const LARGE = Number(process.env.COCOSEAL_BENCH_LARGE ?? 1_000_000);
const GETS = Number(process.env.COCOSEAL_BENCH_GETS ?? 4000);
const SECONDS = Number(process.env.COCOSEAL_BENCH_SECONDS ?? 4);
const CONCURRENCY = Number(process.env.COCOSEAL_BENCH_CONCURRENCY ?? 32);
const VALUE_BYTES = Math.max(8, Number(process.env.COCOSEAL_BENCH_VALUE_BYTES ?? 128));
const NS = 'repository';
/** One response in this many is decrypted and checked (decrypting all would load the client's core). */
const CHECK_EVERY = 50;
/** Each size is measured in this many alternating blocks. */
const BLOCKS = Math.max(1, Number(process.env.COCOSEAL_BENCH_BLOCKS ?? 8));

const KBS_BIN = join(binDir, 'kbs');

/* ---------- data ---------- */

const resourcePath = benchResourcePath;

interface BulkStore {
  setMany(ns: string, e: Iterable<[string, Uint8Array]>): Promise<number>;
  close(): Promise<void>;
}

async function pgQuery(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function postgresAvailable(url: string): Promise<string | undefined> {
  try {
    await pgQuery(url, 'SELECT 1');
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

/* ---------- the KBS process ---------- */

interface Kbs {
  url: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `bin/kbs -c config`, ready when it prints its listening line; its log goes to `logPath`. */
function startKbs(config: string, logPath: string): Promise<Kbs> {
  const log = openSync(logPath, 'a');
  const child = spawn(process.execPath, [KBS_BIN, '-c', config], { stdio: ['ignore', 'pipe', log] });
  closeSync(log);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kbs did not start in 60 s; see ${logPath}`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kbs exited (${code}) before it was ready:\n${readFileSync(logPath, 'utf8')}`));
    });
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /kbs listening on (\S+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      child.stdout!.removeAllListeners('data');
      child.stdout!.resume();
      resolve({
        url: m[1],
        child,
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
          await exited;
          clearTimeout(kill);
        },
      });
    });
  });
}

/* ---------- load generator: one keep-alive TLS connection per worker ---------- */

interface Res {
  status: number;
  body: Buffer;
}

/** HTTP/1.1 over one TLS connection, one request at a time, responses framed by Content-Length. */
class Conn {
  readonly #sock: tls.TLSSocket;
  #buf: Buffer = Buffer.alloc(0);
  #waiting: { resolve(r: Res): void; reject(e: Error): void } | undefined;

  constructor(url: URL, ca: string) {
    this.#sock = tls.connect({ host: url.hostname, port: Number(url.port), ca });
    this.#sock.setNoDelay(true);
    this.#sock.on('data', (d: Buffer) => {
      this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
      this.#frame();
    });
    const fail = (e: Error) => {
      const w = this.#waiting;
      this.#waiting = undefined;
      w?.reject(e);
    };
    this.#sock.on('error', fail);
    this.#sock.on('close', () => fail(new Error('connection closed')));
  }

  #frame(): void {
    const end = this.#buf.indexOf('\r\n\r\n');
    if (end < 0 || !this.#waiting) return;
    const head = this.#buf.subarray(0, end).toString('latin1');
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!m) {
      this.#waiting.reject(new Error('response without Content-Length'));
      return;
    }
    const len = Number(m[1]);
    if (this.#buf.length < end + 4 + len) return;
    const body = this.#buf.subarray(end + 4, end + 4 + len);
    this.#buf = this.#buf.subarray(end + 4 + len);
    const w = this.#waiting;
    this.#waiting = undefined;
    w.resolve({ status: Number(head.slice(9, 12)), body });
  }

  get(path: string, token: string): Promise<Res> {
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
      this.#sock.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${token}\r\n\r\n`);
    });
  }

  close(): void {
    this.#sock.destroy();
  }
}

interface Requester {
  token: string;
  teeKey: TeeKeyPair;
}

/** One GET of entry i; checks the status always and, when asked, the decrypted bytes. */
async function getEntry(c: Conn, who: Requester, i: number, check: boolean): Promise<void> {
  const r = await c.get(`/kbs/v0/resource/${resourcePath(i)}`, who.token);
  if (r.status !== 200) throw new Error(`GET ${resourcePath(i)}: ${r.status} ${r.body.toString('utf8')}`);
  if (check) {
    const v = decryptResourceResponse(r.body, who.teeKey.privateKey);
    if (v.length !== VALUE_BYTES || v.readUInt32BE(0) !== i >>> 0) {
      throw new Error(`GET ${resourcePath(i)}: wrong bytes released`);
    }
  }
}

const pick = (n: number) => Math.floor(Math.random() * n);

/** One KBS under measurement (one storage size), with the samples gathered over all its blocks. */
interface Side {
  backend: string;
  n: number;
  loadS: number;
  kbs: Kbs;
  conns: Conn[];
  who: Requester;
  /** Latencies (ms) of sequential GETs. */
  seq: number[];
  /** Latencies (ms) of concurrent GETs, and the time spent in concurrent blocks. */
  conc: number[];
  concMs: number;
}

/** `count` sequential GETs of random existing resources on one connection. */
async function sequentialBlock(s: Side, count: number): Promise<void> {
  for (let k = 0; k < count; k++) {
    const i = pick(s.n);
    const t0 = performance.now();
    await getEntry(s.conns[0], s.who, i, false);
    s.seq.push(performance.now() - t0);
    if (k % CHECK_EVERY === 0) await getEntry(s.conns[0], s.who, i, true);
  }
}

/** CONCURRENCY workers, each on its own connection, for `ms`. */
async function concurrentBlock(s: Side, ms: number, record = true): Promise<void> {
  const t0 = performance.now();
  const end = t0 + ms;
  await Promise.all(
    s.conns.map(async (c) => {
      let k = 0;
      while (performance.now() < end) {
        const t = performance.now();
        await getEntry(c, s.who, pick(s.n), ++k % CHECK_EVERY === 0);
        if (record) s.conc.push(performance.now() - t);
      }
    }),
  );
  if (record) s.concMs += performance.now() - t0;
}

/* ---------- one backend, two sizes ---------- */

interface Row {
  backend: string;
  n: number;
  loadS: number;
  p50: number;
  p99: number;
  perSecond: number;
  p50c: number;
  p99c: number;
}

/** Storage of one size: its `[storage_backend]` table and direct access for the bulk load. */
interface Store {
  storageTable: Record<string, unknown>;
  open(): Promise<BulkStore>;
  /** After a bulk load (PostgreSQL: ANALYZE, as autovacuum would do soon after). */
  afterLoad(): Promise<void>;
}

interface Backend {
  name: 'sqlite' | 'postgres';
  store(size: 'small' | 'large'): Store;
  cleanup(): Promise<void>;
}

/** Bulk-loads `n` resources, then starts a KBS on that storage and attests once to it. */
async function prepareSide(
  b: Backend,
  size: 'small' | 'large',
  n: number,
  dir: string,
  base: Record<string, unknown>,
  certPem: string,
  adminToken: string,
): Promise<Side> {
  const store = b.store(size);
  const t0 = performance.now();
  const bulk = await store.open();
  try {
    await bulk.setMany(NS, benchEntries(0, n, VALUE_BYTES));
  } finally {
    await bulk.close();
  }
  await store.afterLoad();
  const loadS = (performance.now() - t0) / 1000;
  process.stderr.write(`  ${b.name}: ${n} resources loaded in ${loadS.toFixed(1)} s\n`);

  // Same `kbs init` output for both sizes; only the storage differs.
  const config = join(dir, `kbs-${size}.toml`);
  writeFileSync(config, stringifyToml({ ...base, storage_backend: store.storageTable }), { mode: 0o600 });
  const kbs = await startKbs(config, join(dir, `kbs-${size}.log`));
  try {
    const admin = new KbsAdminClient({ url: kbs.url, extraRootCertsPem: certPem, adminToken });
    // The default policy refuses the sample TEE; the bench measures storage, not appraisal.
    await admin.setResourcePolicy(RESOURCE_POLICIES['allow-all']);
    admin.close();
    const teeKey = await TeeKeyPair.generate();
    const client = new KbsClient({ url: kbs.url, extraRootCertsPem: certPem, teeKey });
    const who: Requester = { token: (await client.attest()).token.raw, teeKey };
    client.http.close();
    const u = new URL(kbs.url);
    const conns = Array.from({ length: CONCURRENCY }, () => new Conn(u, certPem));
    return { backend: b.name, n, loadS, kbs, conns, who, seq: [], conc: [], concMs: 0 };
  } catch (e) {
    await kbs.stop();
    throw e;
  }
}

/** `kbs init` once per backend, then one KBS per size (same keys and certificate, own storage). */
async function prepareBackend(b: Backend, dir: string): Promise<Side[]> {
  const init = initKbs({ dir, port: 0 });
  const base = parseToml(readFileSync(init.configPath, 'utf8')) as Record<string, unknown>;
  const certPem = readFileSync(join(dir, 'tls.crt'), 'utf8');
  const adminToken = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
  const sides: Side[] = [];
  try {
    sides.push(await prepareSide(b, 'small', SMALL, dir, base, certPem, adminToken));
    sides.push(await prepareSide(b, 'large', LARGE, dir, base, certPem, adminToken));
  } catch (e) {
    await stopSides(sides);
    throw e;
  }
  return sides;
}

async function stopSides(sides: Side[]): Promise<void> {
  for (const s of sides) for (const c of s.conns) c.close();
  await Promise.all(sides.map((s) => s.kbs.stop()));
}

/**
 * Every KBS (each backend, each size) runs side by side, idle while another is measured, and they
 * are measured in alternating blocks (the order reversed every other block), so that drift in the
 * machine's load hits all of them alike and the ratios compare like with like.
 */
async function measure(sides: Side[]): Promise<void> {
  for (const s of sides) {
    await sequentialBlock(s, 300); // warm-up: JIT, TLS, the storage's caches
    s.seq.length = 0;
    await concurrentBlock(s, 1000, false);
  }
  for (let block = 0; block < BLOCKS; block++) {
    const order = block % 2 === 0 ? sides : [...sides].reverse();
    for (const s of order) await sequentialBlock(s, Math.ceil(GETS / BLOCKS));
    for (const s of order) await concurrentBlock(s, (SECONDS * 1000) / BLOCKS);
  }
}

function summarize(s: Side): Row {
  s.seq.sort((x, y) => x - y);
  s.conc.sort((x, y) => x - y);
  return {
    backend: s.backend,
    n: s.n,
    loadS: s.loadS,
    p50: percentile(s.seq, 50),
    p99: percentile(s.seq, 99),
    perSecond: s.conc.length / (s.concMs / 1000),
    p50c: percentile(s.conc, 50),
    p99c: percentile(s.conc, 99),
  };
}

async function main(): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'cocoseal-kbs-storage-bench-'));
  const backends: Backend[] = [];
  backends.push({
    name: 'sqlite',
    store: (size) => {
      const path = join(root, 'sqlite', `kbs-${size}.sqlite`);
      return {
        storageTable: { storage_type: 'Sqlite', backends: { sqlite: { path } } },
        open: async () => SqliteStorage.open(path),
        afterLoad: async () => {},
      };
    },
    cleanup: async () => {},
  });
  const url = process.env.DATABASE_URL;
  const pgDown = url ? await postgresAvailable(url) : 'DATABASE_URL is not set';
  if (url && !pgDown) {
    const prefix = `bench_kbs_${process.pid}_${randomBytes(3).toString('hex')}`;
    backends.push({
      name: 'postgres',
      store: (size) => {
        const schema = `${prefix}_${size}`;
        return {
          storageTable: { storage_type: 'Postgres', backends: { postgres: { url, schema } } },
          open: () => PgStorage.open({ type: 'postgres', url, schema, poolSize: 2 }),
          afterLoad: () => pgQuery(url, `ANALYZE "${schema}".cocoseal_kv`),
        };
      },
      cleanup: async () => {
        for (const size of ['small', 'large']) {
          await pgQuery(url, `DROP SCHEMA IF EXISTS "${prefix}_${size}" CASCADE`);
        }
      },
    });
  } else {
    console.log(`PostgreSQL unavailable (${pgDown}): measuring SQLite only`);
  }

  const sides: Side[] = [];
  let rows: Row[] = [];
  try {
    for (const b of backends) sides.push(...(await prepareBackend(b, join(root, b.name))));
    await measure(sides);
    rows = sides.map(summarize);
  } finally {
    await stopSides(sides);
    for (const b of backends) await b.cleanup();
    await rm(root, { recursive: true, force: true });
  }

  console.log(
    `\nResource GETs through bin/kbs (HTTPS loopback, bearer token, JWE for an EC P-256 TEE key, ${VALUE_BYTES}-byte resources): ` +
      `latency over ${GETS} sequential GETs (concurrency 1), throughput over ${SECONDS} s at concurrency ${CONCURRENCY}; ` +
      `all backends and sizes measured in ${BLOCKS} alternating blocks`,
  );
  table(
    rows.map((r) => ({
      backend: r.backend,
      resources: r.n,
      'load s': r.loadS,
      'p50 ms (c=1)': r.p50,
      'p99 ms (c=1)': r.p99,
      [`GET/s (c=${CONCURRENCY})`]: Math.round(r.perSecond),
      [`p50 ms (c=${CONCURRENCY})`]: r.p50c,
      [`p99 ms (c=${CONCURRENCY})`]: r.p99c,
    })),
  );
  console.log('');
  for (const name of ['sqlite', 'postgres']) {
    const [small, large] = rows.filter((r) => r.backend === name);
    if (!small || !large) continue;
    const ratio = large.p50 / small.p50;
    console.log(
      `${name}: p50 ratio ${large.n}/${small.n} = ${ratio.toFixed(2)} (target <= 1.2: ${ratio <= 1.2 ? 'met' : 'NOT met'}); ` +
        `throughput ratio = ${(large.perSecond / small.perSecond).toFixed(2)}`,
    );
  }
  for (const n of [SMALL, LARGE]) {
    const sq = rows.find((r) => r.backend === 'sqlite' && r.n === n);
    const pgr = rows.find((r) => r.backend === 'postgres' && r.n === n);
    if (sq && pgr) {
      console.log(
        `one replica, ${n} resources: throughput ratio postgres/sqlite = ${(pgr.perSecond / sq.perSecond).toFixed(2)}; ` +
          `p50 ratio postgres/sqlite = ${(pgr.p50 / sq.p50).toFixed(2)}`,
      );
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
