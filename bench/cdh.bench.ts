/**
 * CDH daemon figures (issue 4) against a real `bin/kbs` (sample TEE, allow-all resource policy):
 *  - warm unseal p50/p99 through the socket (SocketUnsealer), vault (kid = KBS URI) and envelope;
 *  - cold unseal: the first unseal after a daemon start (includes the attestation and the loading of
 *    the unseal code), p50 over restarts (vault and envelope alternately);
 *  - resident memory (VmRSS) of the daemon after start and after the warm loop;
 *  - start-to-socket-ready: from spawn until the socket accepts a connection and answers a request
 *    (polled), p50.
 * Baselines measured in the same run: a bare `node -e` unix-socket echo server (its ready time, RSS
 * and a raw round trip over its socket), so the ratios show our overhead over Node itself.
 * Run: `npm run bench cdh` (or `node dist/bench/cdh.bench.js [--restarts N] [--calls N]`).
 * `BENCH_CDH_BIN=<checkout>/bin/cdh` benchmarks another build of the daemon (before/after comparisons).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SocketUnsealer } from '../src/cdh/socket-unsealer.js';
import { encodeRequest } from '../src/ttrpc/codec.js';
import { encodeFrame, MessageType } from '../src/ttrpc/frame.js';
import { binDir } from '../test/helpers/paths.js';
import { setUpSealedWorld } from '../test/helpers/sealed-world.js';
import { percentile, table } from './harness.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const RESTARTS = arg('restarts', Number(process.env.BENCH_RESTARTS ?? 9));
const CALLS = arg('calls', Number(process.env.BENCH_CALLS ?? 2000));
const WARMUP = 200;
const TARGET = { warmP50Ms: 2, rssMb: 60, readyMs: 250 };

const dir = mkdtempSync(join(tmpdir(), 'cdh-bench-'));
const f = (n: string) => join(dir, n);

/** VmRSS of a live process, in MiB. */
function rssMb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) / 1024;
}

/**
 * A ttRPC request for a method nobody serves: the CDH answers it with a status, the baseline echoes
 * it. Either way, an answer proves the socket is served, not just bound (our server drops
 * connections until it has checked the socket's mode).
 */
const PROBE = encodeFrame(
  1,
  MessageType.Request,
  encodeRequest({
    service: 'bench.Probe',
    method: 'Ready',
    payload: new Uint8Array(0),
    timeoutNano: 0,
    metadata: [],
  }),
);

/** Resolves once the socket answers a request; polls (1 ms apart) while it is missing, refused or dropped. */
function waitServed(path: string, child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(new Error(`process exited (${child.exitCode ?? child.signalCode}) before serving`));
        return;
      }
      let done = false;
      const s = createConnection({ path });
      const retry = () => {
        if (done) return;
        done = true;
        s.destroy();
        if (performance.now() > deadline) reject(new Error(`${path} not served in time`));
        else setTimeout(attempt, 1);
      };
      s.once('connect', () => s.write(PROBE));
      s.once('data', () => {
        done = true;
        s.destroy();
        resolve();
      });
      s.once('error', retry);
      s.once('close', retry);
    };
    attempt();
  });
}

interface Started {
  child: ChildProcess;
  readyMs: number;
  stderr(): string;
  stop(): Promise<void>;
}

async function startTimed(args: string[], socket: string): Promise<Started> {
  rmSync(socket, { force: true });
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (c) => {
    err += c;
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await waitServed(socket, child);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${err}`);
  }
  const readyMs = performance.now() - t0;
  return {
    child,
    readyMs,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Baseline process: Node's own start plus a unix-socket server (echo), nothing else. */
const BARE_SERVER = `require('node:net').createServer((s) => s.pipe(s)).listen(process.argv[1]);`;

function startBare(socket: string): Promise<Started> {
  return startTimed(['-e', BARE_SERVER, socket], socket);
}

/** `BENCH_CDH_BIN=/other/checkout/bin/cdh` measures another build against the same KBS (before/after). */
const CDH_BIN = process.env.BENCH_CDH_BIN || join(binDir, 'cdh');

function startCdh(config: string, socket: string): Promise<Started> {
  return startTimed([CDH_BIN, '-c', config], socket);
}

/** One request/response round trip of `payload` over a raw connection to the echo server. */
async function rawRoundTrips(path: string, payload: Buffer, n: number): Promise<number[]> {
  const sock: Socket = createConnection({ path });
  await new Promise((r, j) => sock.once('connect', r).once('error', j));
  const out: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      await new Promise<void>((resolve) => {
        let got = 0;
        const onData = (c: Buffer) => {
          got += c.length;
          if (got >= payload.length) {
            sock.off('data', onData);
            resolve();
          }
        };
        sock.on('data', onData);
        sock.write(payload);
      });
      out.push(performance.now() - t);
    }
  } finally {
    sock.destroy();
  }
  return out;
}

async function timedUnseals(u: SocketUnsealer, sealed: string, expect: string, n: number): Promise<number[]> {
  const bytes = Buffer.from(sealed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const plain = await u.unseal(bytes);
    out.push(performance.now() - t);
    if (i === 0 && Buffer.from(plain).toString() !== expect) throw new Error('unexpected plaintext');
  }
  return out.sort((a, b) => a - b);
}

const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
const verdict = (value: number, target: number) => (value <= target ? 'pass' : 'MISS');

async function main(): Promise<void> {
  const { kbs, sealed, cdhConfig, socket: cdhSock } = await setUpSealedWorld(dir);
  const bareSock = f('bare.sock');
  const cdhReady: number[] = [];
  const bareReady: number[] = [];
  const cdhRssStart: number[] = [];
  const bareRss: number[] = [];
  const cold: number[] = [];
  try {
    // Restarts: ready time, RSS after start and the cold (attesting) unseal; the baseline interleaved.
    for (let i = 0; i < RESTARTS; i++) {
      const bare = await startBare(bareSock);
      bareReady.push(bare.readyMs);
      bareRss.push(rssMb(bare.child.pid!));
      await bare.stop();

      const cdh = await startCdh(cdhConfig, cdhSock);
      cdhReady.push(cdh.readyMs);
      cdhRssStart.push(rssMb(cdh.child.pid!));
      const u = new SocketUnsealer(cdhSock);
      try {
        const which = i % 2 === 0 ? 'vault' : 'envelope';
        const t = performance.now();
        await u.unseal(Buffer.from(sealed[which]));
        cold.push(performance.now() - t);
      } catch (e) {
        throw new Error(`cold unseal failed: ${(e as Error).message}\n${cdh.stderr()}`);
      } finally {
        await u.close();
        await cdh.stop();
      }
    }

    // Warm loop on one daemon, then its RSS; the raw socket round trip on the baseline server.
    const cdh = await startCdh(cdhConfig, cdhSock);
    const u = new SocketUnsealer(cdhSock);
    let vault: number[];
    let envelope: number[];
    let rssWarm: number;
    try {
      // Interleaved, so that both kinds see the same machine (the figures are noisy on shared cores).
      const calls = [
        { sealed: sealed.vault, expect: 'correct horse', times: [] as number[] },
        { sealed: sealed.envelope, expect: 'tok_123', times: [] as number[] },
      ];
      for (let i = 0; i < WARMUP + CALLS; i++) {
        for (const c of calls) {
          const [t] = await timedUnseals(u, c.sealed, c.expect, 1);
          if (i >= WARMUP) c.times.push(t);
        }
      }
      [vault, envelope] = calls.map((c) => c.times.sort((a, b) => a - b));
      rssWarm = rssMb(cdh.child.pid!);
    } finally {
      await u.close();
      await cdh.stop();
    }
    const bare = await startBare(bareSock);
    let raw: number[];
    try {
      const payload = Buffer.from(sealed.vault);
      await rawRoundTrips(bareSock, payload, WARMUP);
      raw = (await rawRoundTrips(bareSock, payload, CALLS)).sort((a, b) => a - b);
    } finally {
      await bare.stop();
    }

    const rawP50 = percentile(raw, 50);
    const bareReadyP50 = median(bareReady);
    const bareRssP50 = median(bareRss);
    const rssStart = median(cdhRssStart);
    const readyP50 = median(cdhReady);
    const warmRow = (name: string, xs: number[]) => ({
      figure: `warm unseal ${name} p50 (ms)`,
      value: percentile(xs, 50),
      target: `≤ ${TARGET.warmP50Ms}`,
      result: verdict(percentile(xs, 50), TARGET.warmP50Ms),
      'vs baseline': `${(percentile(xs, 50) / rawP50).toFixed(1)}× raw echo RTT`,
    });
    table([
      warmRow('vault', vault),
      {
        figure: 'warm unseal vault p99 (ms)',
        value: percentile(vault, 99),
        target: '-',
        result: '',
        'vs baseline': '',
      },
      warmRow('envelope', envelope),
      {
        figure: 'warm unseal envelope p99 (ms)',
        value: percentile(envelope, 99),
        target: '-',
        result: '',
        'vs baseline': '',
      },
      {
        figure: `cold unseal p50 (ms, ${RESTARTS} starts)`,
        value: median(cold),
        target: '-',
        result: '',
        'vs baseline': `${(median(cold) / percentile(vault, 50)).toFixed(0)}× warm vault p50`,
      },
      {
        figure: 'RSS after start (MiB)',
        value: rssStart,
        target: `≤ ${TARGET.rssMb}`,
        result: verdict(rssStart, TARGET.rssMb),
        'vs baseline': `${(rssStart / bareRssP50).toFixed(2)}× bare node`,
      },
      {
        figure: `RSS after ${2 * (CALLS + WARMUP)} unseals (MiB)`,
        value: rssWarm,
        target: `≤ ${TARGET.rssMb}`,
        result: verdict(rssWarm, TARGET.rssMb),
        'vs baseline': `${(rssWarm / bareRssP50).toFixed(2)}× bare node`,
      },
      {
        figure: `start → socket ready p50 (ms, ${RESTARTS} starts)`,
        value: readyP50,
        target: `≤ ${TARGET.readyMs}`,
        result: verdict(readyP50, TARGET.readyMs),
        'vs baseline': `${(readyP50 / bareReadyP50).toFixed(2)}× bare node`,
      },
      { figure: 'baseline: raw echo RTT p50 (ms)', value: rawP50, target: '', result: '', 'vs baseline': '' },
      {
        figure: 'baseline: bare node ready p50 (ms)',
        value: bareReadyP50,
        target: '',
        result: '',
        'vs baseline': '',
      },
      {
        figure: 'baseline: bare node RSS (MiB)',
        value: bareRssP50,
        target: '',
        result: '',
        'vs baseline': '',
      },
    ]);
    console.log(
      `ready ms (cdh): ${cdhReady.map((x) => x.toFixed(0)).join(' ')}; (bare): ${bareReady
        .map((x) => x.toFixed(0))
        .join(' ')}; cold ms: ${cold.map((x) => x.toFixed(0)).join(' ')}`,
    );
  } finally {
    await kbs.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
