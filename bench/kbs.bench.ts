/*
 * KBS throughput: full RCAR attestations per second and resource GETs per second at concurrency 32
 * over HTTPS keep-alive (in-repo load generator: raw HTTP/1.1 over keep-alive TLS connections), with p50/p99 latency; and, in
 * the same run, the in-process ceiling: the crypto of one resource GET (the JWE for the TEE key) in a
 * tight loop. Prints GET throughput as a ratio of that ceiling. The ceiling runs on one thread while the
 * server may use every core (event loop and JWE workers), so on an otherwise idle machine the ratio can
 * pass 1; the CPU-normalized ratio (ceiling CPU per op / server CPU per GET) is the efficiency figure.
 *
 * The server runs in a child process so it has its own event loop (and core) apart from the load
 * generator. JWEs run on the server's crypto worker threads (automatic count) unless `--crypto-workers N`.
 * Run: `npm run bench kbs` or `npx tsx bench/kbs.bench.ts [--seconds N] [--concurrency N]
 * [--crypto-workers N] [--insecure-http] [--sqlite]`. Env KBS_BENCH_CPU_PROF=DIR profiles the server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { encryptResourceResponse, prepareTeeKey } from '../src/crypto/jwe.js';
import { sampleAttestBody, teeKeyPair } from '../src/kbs/testing/harness.js';

const self = fileURLToPath(import.meta.url);

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

/* ---------- server child ---------- */

const PLAIN = process.argv.includes('--insecure-http');
const SQLITE = process.argv.includes('--sqlite');
const CRYPTO_WORKERS = process.argv.includes('--crypto-workers')
  ? Number(process.argv[process.argv.indexOf('--crypto-workers') + 1])
  : undefined;

async function serve(dir: string): Promise<void> {
  const { configFromObject } = await import('../src/kbs/config/config.js');
  const { startKbs } = await import('../src/kbs/server.js');
  const { buildCertificate } = await import('../src/kbs/init/x509.js');
  const { generateKeyPairSync } = await import('node:crypto');
  const { writeFileSync } = await import('node:fs');
  const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(join(dir, 'tls.key'), k.privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const pem = buildCertificate({
    subjectCn: 'bench',
    publicKey: k.publicKey,
    issuerKey: k.privateKey,
    days: 1,
    san: ['127.0.0.1'],
  });
  writeFileSync(join(dir, 'tls.crt'), pem);
  const config = configFromObject(
    {
      http_server: {
        sockets: ['127.0.0.1:0'],
        ...(PLAIN
          ? { insecure_http: true }
          : { private_key: join(dir, 'tls.key'), certificate: join(dir, 'tls.crt') }),
        ...(CRYPTO_WORKERS !== undefined ? { crypto_workers: CRYPTO_WORKERS } : {}),
      },
      attestation_service: { type: 'coco_as_builtin' },
      admin: { authorization_mode: 'InsecureAllowAll' },
      storage_backend: SQLITE
        ? { storage_type: 'Sqlite', backends: { sqlite: { path: join(dir, 'kbs.sqlite') } } }
        : { storage_type: 'Memory' },
      plugins: [{ name: 'resource' }],
    },
    dir,
  );
  // Access logging stays on (to /dev/null) so the numbers include its cost.
  const { createLogger } = await import('../src/common/log.js');
  const kbs = await startKbs(config, { logger: createLogger('info', () => {}) });
  process.stdout.write(`${JSON.stringify({ url: kbs.url, ca: pem })}\n`);
  // The parent asks for this process's CPU time around a phase (CPU-normalized throughput), and, on
  // Linux, how much of it the main thread (event loop) used, as opposed to JWE workers and V8 helpers.
  process.on('message', (m) => {
    if (m === 'cpu') process.send?.({ ...process.cpuUsage(), mainUs: mainThreadCpuUs() });
  });
  process.on('SIGTERM', () => kbs.close().then(() => process.exit(0)));
}

/** CPU time of this process's main thread in microseconds (Linux /proc; undefined elsewhere). */
function mainThreadCpuUs(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'latin1');
    // Fields after the parenthesized command name; utime and stime are the 12th and 13th of those.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
/** USER_HZ: 100 on every Linux architecture Node supports. */
const CLOCK_TICKS = 100;

/* ---------- load generator ---------- */

interface Res {
  status: number;
  body: string;
  cookie?: string;
}

/**
 * A minimal HTTP/1.1 client over one keep-alive TLS connection: requests are written as one buffer and
 * responses framed by Content-Length. Far cheaper than node:https per request, so the load generator
 * leaves more of the (shared) CPU to the server under test.
 */
class RawConn {
  #sock: net.Socket;
  #buf: Buffer = Buffer.alloc(0);
  #pending: ((r: Res) => void) | undefined;
  #fail: ((e: Error) => void) | undefined;

  constructor(
    private readonly host: string,
    port: number,
    ca: string,
  ) {
    this.#sock = PLAIN ? net.connect({ host, port }) : tls.connect({ host, port, ca });
    this.#sock.setNoDelay(true);
    this.#sock.on('data', (d: Buffer) => {
      this.#buf = this.#buf.length ? Buffer.concat([this.#buf, d]) : d;
      this.#parse();
    });
    this.#sock.on('error', (e) => this.#fail?.(e));
  }

  #parse(): void {
    const end = this.#buf.indexOf('\r\n\r\n');
    if (end < 0 || !this.#pending) return;
    const head = this.#buf.subarray(0, end).toString('latin1');
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    const len = m ? Number(m[1]) : 0;
    if (this.#buf.length < end + 4 + len) return;
    const body = this.#buf.subarray(end + 4, end + 4 + len).toString('utf8');
    this.#buf = this.#buf.subarray(end + 4 + len);
    const cookie = /\r\nset-cookie:\s*([^;\r]+)/i.exec(head)?.[1];
    const resolve = this.#pending;
    this.#pending = undefined;
    resolve({ status: Number(head.slice(9, 12)), body, cookie });
  }

  call(method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Res> {
    return new Promise((resolve, reject) => {
      this.#pending = resolve;
      this.#fail = reject;
      let req = `${method} ${path} HTTP/1.1\r\nhost: ${this.host}\r\n`;
      for (const [k, v] of Object.entries(headers)) req += `${k}: ${v}\r\n`;
      if (body !== undefined)
        req += `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`;
      req += '\r\n';
      this.#sock.write(body === undefined ? req : req + body);
    });
  }

  close(): void {
    this.#sock.destroy();
  }
}

function makeClient(url: string, ca: string, concurrency: number) {
  const u = new URL(url);
  const conns = Array.from({ length: concurrency }, () => new RawConn(u.hostname, Number(u.port), ca));
  return {
    call: (method: string, path: string, body?: string, headers?: Record<string, string>, worker = 0) =>
      conns[worker].call(method, path, body, headers),
    close: () => {
      for (const c of conns) c.close();
    },
  };
}

type Client = ReturnType<typeof makeClient>;
const jwk = teeKeyPair().jwk;

async function attestOnce(c: Client, w = 0): Promise<string> {
  const a = await c.call(
    'POST',
    '/kbs/v0/auth',
    JSON.stringify({ version: '0.4.0', tee: 'sample', 'extra-params': '' }),
    {},
    w,
  );
  if (a.status !== 200) throw new Error(`auth ${a.status} ${a.body}`);
  const { nonce } = JSON.parse(a.body);
  const r = await c.call(
    'POST',
    '/kbs/v0/attest',
    JSON.stringify(sampleAttestBody(nonce, jwk)),
    { cookie: a.cookie! },
    w,
  );
  if (r.status !== 200) throw new Error(`attest ${r.status} ${r.body}`);
  return JSON.parse(r.body).token;
}

function pct(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function load(concurrency: number, seconds: number, op: (worker: number) => Promise<void>) {
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      while (performance.now() < end) {
        const s = performance.now();
        await op(w);
        lat.push(performance.now() - s);
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  const sorted = Float64Array.from(lat).sort();
  return { ops: lat.length, perSecond: lat.length / elapsed, p50: pct(sorted, 50), p99: pct(sorted, 99) };
}

/**
 * Ops per wall-clock second, and CPU microseconds per op: exactly the server's per-GET crypto. The
 * server validates and decodes the TEE key once per token (cached with the verified token), so the
 * loop does too; each op still generates a fresh ephemeral P-256 key, does the ECDH, the Concat KDF,
 * the key wrap and AES-GCM, and serializes the body.
 */
function ceiling(seconds: number): { perSecond: number; cpuUs: number } {
  const secret = Buffer.alloc(32, 7);
  const key = prepareTeeKey(jwk);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < seconds * 1000) {
    for (let i = 0; i < 50; i++) JSON.stringify(encryptResourceResponse(key, secret));
    n += 50;
  }
  const c = process.cpuUsage(cpu0);
  return { perSecond: n / ((performance.now() - t0) / 1000), cpuUs: (c.user + c.system) / n };
}

async function main(): Promise<void> {
  const seconds = arg('seconds', 5);
  const concurrency = arg('concurrency', 32);
  const dir = mkdtempSync(join(tmpdir(), 'kbs-bench-'));
  const prof = process.env.KBS_BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.KBS_BENCH_CPU_PROF}`]
    : [];
  const extra = [
    ...(PLAIN ? ['--insecure-http'] : []),
    ...(SQLITE ? ['--sqlite'] : []),
    ...(CRYPTO_WORKERS !== undefined ? ['--crypto-workers', String(CRYPTO_WORKERS)] : []),
  ];
  const child: ChildProcess = spawn(
    process.execPath,
    [...prof, ...process.execArgv, self, '--serve', dir, ...extra],
    {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    },
  );
  let lastSys = 0;
  let lastMain: number | undefined;
  const serverCpu = () =>
    new Promise<number>((resolve) => {
      child.once('message', (u) => {
        const c = u as NodeJS.CpuUsage & { mainUs?: number };
        lastSys = c.system / 1000;
        lastMain = c.mainUs;
        resolve((c.user + c.system) / 1000);
      });
      child.send('cpu');
    });
  try {
    const ready = await new Promise<{ url: string; ca: string }>((resolve, reject) => {
      let buf = '';
      child.stdout!.on('data', (d) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl >= 0) resolve(JSON.parse(buf.slice(0, nl)));
      });
      child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
    });
    const c = makeClient(ready.url, ready.ca, concurrency);
    const pol = Buffer.from('data.plugin == "resource"').toString('base64url');
    await c.call('POST', '/kbs/v0/resource-policy', JSON.stringify({ policy: pol }));
    await c.call('POST', '/kbs/v0/resource/default/bench/secret', 'x'.repeat(32));

    // Warm-up (JIT, TLS sessions).
    await load(concurrency, 1, async (w) => void (await attestOnce(c, w)));
    const att = await load(
      concurrency,
      process.env.KBS_BENCH_SKIP_ATTEST ? 0.1 : seconds,
      async (w) => void (await attestOnce(c, w)),
    );
    const tokens = await Promise.all(Array.from({ length: concurrency }, (_, w) => attestOnce(c, w)));
    const get = async (w: number) => {
      const r = await c.call(
        'GET',
        '/kbs/v0/resource/default/bench/secret',
        undefined,
        { authorization: `Bearer ${tokens[w]}` },
        w,
      );
      if (r.status !== 200) throw new Error(`GET ${r.status} ${r.body}`);
    };
    await load(concurrency, 1, get);
    // The ceiling is measured just before and just after the GET phase (the machine may be shared)
    // and averaged, so both figures see the same conditions.
    const ceilBefore = ceiling(Math.min(seconds, 2));
    const cpu0 = await serverCpu();
    const sys0 = lastSys;
    const main0 = lastMain;
    const lg0 = process.cpuUsage();
    const gets = await load(concurrency, seconds, get);
    const lg = process.cpuUsage(lg0);
    const loadgenUs = (lg.user + lg.system) / gets.ops;
    const getCpuMs = ((await serverCpu()) - cpu0) / gets.ops;
    const getSysMs = (lastSys - sys0) / gets.ops;
    const mainUs = main0 !== undefined && lastMain !== undefined ? (lastMain - main0) / gets.ops : undefined;
    c.close();
    const ceilAfter = ceiling(Math.min(seconds, 2));
    const ceil = {
      perSecond: (ceilBefore.perSecond + ceilAfter.perSecond) / 2,
      cpuUs: (ceilBefore.cpuUs + ceilAfter.cpuUs) / 2,
    };
    const f = (x: number) => x.toFixed(1);
    process.stdout.write(
      [
        `concurrency ${concurrency}, ${seconds}s per phase, ${PLAIN ? 'plain HTTP' : 'HTTPS'} keep-alive, ${SQLITE ? 'SQLite' : 'Memory'} storage, sample TEE, EC P-256 TEE key`,
        `attestations (auth+attest): ${f(att.perSecond)}/s  p50 ${f(att.p50)} ms  p99 ${f(att.p99)} ms  (${att.ops} ops)`,
        `resource GETs:              ${f(gets.perSecond)}/s  p50 ${f(gets.p50)} ms  p99 ${f(gets.p99)} ms  (${gets.ops} ops)`,
        `in-process ceiling (JWE of one GET, tight loop, mean of before/after): ${f(ceil.perSecond)}/s (${f(ceilBefore.perSecond)} / ${f(ceilAfter.perSecond)}; ${ceil.cpuUs.toFixed(0)} us CPU/op)`,
        `GET throughput / ceiling = ${(gets.perSecond / ceil.perSecond).toFixed(2)}`,
        `server CPU per GET ${(getCpuMs * 1000).toFixed(0)} us (of which kernel ${(getSysMs * 1000).toFixed(0)} us: TLS socket I/O, loopback TCP): CPU-normalized ratio = ${(ceil.cpuUs / (getCpuMs * 1000)).toFixed(2)}; load generator CPU per GET ${loadgenUs.toFixed(0)} us`,
        ...(mainUs !== undefined
          ? [
              `server CPU per GET by thread: event loop ${mainUs.toFixed(0)} us, JWE workers and V8 helper threads ${(getCpuMs * 1000 - mainUs).toFixed(0)} us`,
            ]
          : []),
        '',
      ].join('\n'),
    );
  } finally {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv.includes('--serve')) {
  await serve(process.argv[process.argv.indexOf('--serve') + 1]);
} else {
  await main();
}
