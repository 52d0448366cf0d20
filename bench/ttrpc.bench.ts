/**
 * ttRPC throughput on a unix socket: our client → our server (echo handler), sequential and with 64
 * calls in flight, for small and 64 KiB payloads. Baseline in the same run: a bare length-prefixed
 * echo over the same kind of socket, so the ratio is the cost of ttRPC framing, protobuf envelopes
 * and dispatch. Run: `npx tsx bench/ttrpc.bench.ts`.
 */
import { createConnection, createServer, type Socket } from 'node:net';
import { TtrpcClient } from '../src/ttrpc/client.js';
import { TtrpcServer } from '../src/ttrpc/server.js';
import { tempSocketDir } from '../src/ttrpc/testing.js';
import { table } from './harness.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 20_000);

async function timeIt(n: number, inFlight: number, call: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next++ < n) await call();
    }),
  );
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** Baseline: u32 length + bytes, echoed; one outstanding request per id in FIFO order. */
async function rawEcho(path: string): Promise<{ call(p: Uint8Array): Promise<Buffer>; close(): void }> {
  const server = createServer((s: Socket) => s.pipe(s));
  await new Promise<void>((r) => server.listen(path, r));
  const sock = createConnection({ path });
  await new Promise((r) => sock.once('connect', r));
  const waiters: Array<(b: Buffer) => void> = [];
  let buf: Buffer = Buffer.alloc(0);
  sock.on('data', (c: Buffer) => {
    buf = buf.length ? Buffer.concat([buf, c]) : c;
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const n = buf.readUInt32BE(0);
      waiters.shift()!(buf.subarray(4, 4 + n));
      buf = buf.subarray(4 + n);
    }
  });
  return {
    call: (p) =>
      new Promise((resolve) => {
        waiters.push(resolve);
        const h = Buffer.alloc(4);
        h.writeUInt32BE(p.length);
        sock.write(Buffer.concat([h, p]));
      }),
    close: () => {
      sock.destroy();
      server.close();
    },
  };
}

async function main(): Promise<void> {
  const tmp = tempSocketDir();
  const server = new TtrpcServer({ maxConcurrentCallsPerConnection: 128 });
  server.register('bench.Echo', 'Echo', async (req) => req);
  await server.listen(tmp.path('ttrpc.sock'));
  const client = await TtrpcClient.connect(tmp.path('ttrpc.sock'));
  const raw = await rawEcho(tmp.path('raw.sock'));
  const rows: Record<string, string | number>[] = [];
  try {
    for (const size of [32, 64 * 1024]) {
      const payload = new Uint8Array(size).fill(7);
      const n = size > 1024 ? Math.ceil(CALLS / 4) : CALLS;
      for (const inFlight of [1, 64]) {
        await timeIt(Math.ceil(n / 10), inFlight, () => client.call('bench.Echo', 'Echo', payload)); // warm-up
        const base = await timeIt(n, inFlight, () => raw.call(payload));
        const ours = await timeIt(n, inFlight, () => client.call('bench.Echo', 'Echo', payload));
        rows.push({
          case: `echo ${size} B, ${inFlight} in flight`,
          'ttRPC calls/s': ours,
          'baseline calls/s': base,
          ratio: ours / base,
        });
      }
    }
    table(rows);
  } finally {
    client.close();
    raw.close();
    await server.close();
    tmp.cleanup();
  }
}

await main();
