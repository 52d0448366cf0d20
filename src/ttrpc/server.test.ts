import assert from 'node:assert/strict';
import { linkSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { TtrpcClient } from './client.js';
import { encodeRequest, type TtrpcRequest } from './codec.js';
import { TtrpcError, TtrpcStatusError } from './errors.js';
import { encodeFrame, MAX_MESSAGE_LENGTH, MessageType } from './frame.js';
import type { TtrpcCallContext, TtrpcLogLevel } from './handler.js';
import { TtrpcServer } from './server.js';
import { GrpcCode } from './status.js';
import { RawConnection, tempSocketDir } from './testing.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

function requestFrame(id: number, r: Partial<TtrpcRequest> & { service: string; method: string }): Buffer {
  return encodeFrame(
    id,
    MessageType.Request,
    encodeRequest({ payload: new Uint8Array(0), timeoutNano: 0, metadata: [], ...r }),
  );
}

interface Deferred {
  promise: Promise<void>;
  resolve(): void;
}
function deferred(): Deferred {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function rejectsStatus(
  p: Promise<unknown>,
  code: number,
  message?: string | RegExp,
): Promise<TtrpcStatusError> {
  let err: unknown;
  await p.then(
    () => assert.fail('expected a status error'),
    (e) => {
      err = e;
    },
  );
  assert.ok(err instanceof TtrpcStatusError, `not a status error: ${err}`);
  assert.equal(err.grpcCode, code, err.message);
  if (typeof message === 'string') assert.equal(err.message, message);
  else if (message) assert.match(err.message, message);
  return err;
}

describe('TtrpcServer', () => {
  const tmp = tempSocketDir();
  const path = tmp.path();
  const logs: Array<{ level: TtrpcLogLevel; message: string; error?: unknown }> = [];
  const server = new TtrpcServer({
    maxConcurrentCallsPerConnection: 4,
    log: (level, message, error) => logs.push({ level, message, error }),
  });
  const seen = { lastCtx: undefined as TtrpcCallContext | undefined, aborted: [] as string[] };
  const gates = new Map<string, Deferred>();
  let running = 0;
  let maxRunning = 0;
  let hangsStarted = 0;

  server.register('test.Echo', 'Echo', async (req, ctx) => {
    seen.lastCtx = ctx;
    return req;
  });
  server.register('test.Echo', 'Reverse', async (req) => new Uint8Array(req).reverse());
  server.register('test.Echo', 'Fail', async () => {
    throw new Error('boom: the secret was hunter2');
  });
  server.register('test.Echo', 'Status', async (req) => {
    throw new TtrpcStatusError(GrpcCode.INTERNAL, `[CDH] [ERROR]: ${dec(req)}`);
  });
  server.register('test.Echo', 'NotBytes', async () => 'oops' as unknown as Uint8Array);
  server.register('test.Echo', 'Big', async (req) => new Uint8Array(Number(dec(req))));
  server.register('test.Echo', 'Hang', (_req, ctx) => {
    hangsStarted++;
    return new Promise((_resolve, reject) => {
      ctx.signal.addEventListener('abort', () => {
        seen.aborted.push(String(ctx.signal.reason?.message));
        reject(ctx.signal.reason);
      });
    });
  });
  server.register('test.Echo', 'Gate', async (req) => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    try {
      const name = dec(req);
      let g = gates.get(name);
      if (!g) {
        g = deferred();
        gates.set(name, g);
      }
      await g.promise;
      return req;
    } finally {
      running--;
    }
  });

  before(() => server.listen(path));
  after(async () => {
    await server.close();
    tmp.cleanup();
  });

  test('the socket is created owner-only (0600)', () => {
    const st = statSync(path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o600);
  });

  test('unary round trip, payload bytes exact (including empty)', async () => {
    const c = await TtrpcClient.connect(path);
    try {
      const bin = Uint8Array.from([0, 255, 1, 0, 128]);
      assert.deepEqual(new Uint8Array(await c.call('test.Echo', 'Echo', bin)), bin);
      assert.equal((await c.call('test.Echo', 'Echo', new Uint8Array(0))).length, 0);
      assert.equal(dec(await c.call('test.Echo', 'Reverse', enc('abc'))), 'cba');
    } finally {
      c.close();
    }
  });

  test('metadata and the deadline reach the handler', async () => {
    const c = await TtrpcClient.connect(`unix://${path}`);
    try {
      const t0 = Date.now();
      await c.call('test.Echo', 'Echo', enc('x'), { metadata: { a: ['1', '2'], b: 'z' }, timeoutMs: 30_000 });
      const ctx = seen.lastCtx!;
      assert.deepEqual(
        [...ctx.metadata],
        [
          ['a', ['1', '2']],
          ['b', ['z']],
        ],
      );
      assert.ok(ctx.deadline! >= t0 + 29_000 && ctx.deadline! <= Date.now() + 30_000);
      assert.equal(ctx.service, 'test.Echo');
      assert.equal(ctx.method, 'Echo');
      await c.call('test.Echo', 'Echo', enc('x'));
      assert.equal(seen.lastCtx!.deadline, undefined);
    } finally {
      c.close();
    }
  });

  test('unknown service → INVALID_ARGUMENT, unknown method → UNIMPLEMENTED (ttrpc-rust wording)', async () => {
    const c = await TtrpcClient.connect(path);
    try {
      await rejectsStatus(
        c.call('nope.Svc', 'X', enc('')),
        GrpcCode.INVALID_ARGUMENT,
        'nope.Svc service does not exist',
      );
      await rejectsStatus(c.call('test.Echo', 'Nope', enc('')), GrpcCode.UNIMPLEMENTED, 'Nope method');
      const long = 'S'.repeat(100_000);
      const e = await rejectsStatus(c.call(long, 'X', enc('')), GrpcCode.INVALID_ARGUMENT);
      assert.ok(e.message.length < 400, 'echoed names are clipped');
    } finally {
      c.close();
    }
  });

  test('a TtrpcStatusError from a handler is answered as is', async () => {
    const c = await TtrpcClient.connect(path);
    try {
      await rejectsStatus(
        c.call('test.Echo', 'Status', enc('Unseal Secret failed')),
        GrpcCode.INTERNAL,
        '[CDH] [ERROR]: Unseal Secret failed',
      );
    } finally {
      c.close();
    }
  });

  test('any other handler error is INTERNAL with a generic message; the cause goes to the log only', async () => {
    const c = await TtrpcClient.connect(path);
    try {
      const e = await rejectsStatus(
        c.call('test.Echo', 'Fail', enc('')),
        GrpcCode.INTERNAL,
        'internal error',
      );
      assert.doesNotMatch(e.message, /hunter2/);
      assert.ok(logs.some((l) => l.level === 'error' && (l.error as Error)?.message?.includes('hunter2')));
      await rejectsStatus(c.call('test.Echo', 'NotBytes', enc('')), GrpcCode.INTERNAL, 'internal error');
    } finally {
      c.close();
    }
  });

  test('timeout_nano: the handler is aborted and DEADLINE_EXCEEDED "timeout" is answered', async () => {
    const raw = await RawConnection.connect(path);
    try {
      raw.write(requestFrame(1, { service: 'test.Echo', method: 'Hang', timeoutNano: 50_000_000 }));
      const { streamId, response } = await raw.nextResponse();
      assert.equal(streamId, 1);
      assert.deepEqual(response.status, {
        code: GrpcCode.DEADLINE_EXCEEDED,
        message: 'timeout',
        details: [],
      });
      assert.deepEqual(seen.aborted.at(-1), 'timeout');
    } finally {
      raw.close();
    }
  });

  test('a negative timeout_nano means no deadline (Go clients can send one)', async () => {
    const raw = await RawConnection.connect(path);
    try {
      raw.write(
        requestFrame(1, { service: 'test.Echo', method: 'Echo', payload: enc('neg'), timeoutNano: -5 }),
      );
      const { response } = await raw.nextResponse();
      assert.equal(dec(response.payload), 'neg');
      assert.equal(seen.lastCtx!.deadline, undefined);
    } finally {
      raw.close();
    }
  });

  test('a client disconnect aborts its running handlers', async () => {
    const c = await TtrpcClient.connect(path);
    const before = seen.aborted.length;
    const started = hangsStarted;
    const p = c.call('test.Echo', 'Hang', enc('')).catch((e) => e);
    await waitFor(() => hangsStarted > started);
    c.close();
    assert.equal(((await p) as TtrpcError).code, 'TTRPC_CONNECTION_CLOSED');
    await waitFor(() => seen.aborted.length > before);
    assert.equal(seen.aborted.at(-1), 'the ttRPC connection closed');
  });

  test('calls are multiplexed and answered in completion order', async () => {
    const c = await TtrpcClient.connect(path);
    try {
      const order: string[] = [];
      const calls = ['m1', 'm2', 'm3'].map((n) =>
        c.call('test.Echo', 'Gate', enc(n)).then((r) => order.push(dec(r))),
      );
      await waitFor(() => running === 3);
      for (const n of ['m3', 'm1', 'm2']) {
        gateFor(n).resolve();
        await waitFor(() => order.includes(n));
      }
      await Promise.all(calls);
      assert.deepEqual(order, ['m3', 'm1', 'm2']);
    } finally {
      c.close();
    }
  });

  test('at most maxConcurrentCallsPerConnection handlers run at once; the rest wait', async () => {
    const c = await TtrpcClient.connect(path);
    try {
      maxRunning = 0;
      const names = Array.from({ length: 10 }, (_, i) => `c${i}`);
      const calls = names.map((n) => c.call('test.Echo', 'Gate', enc(n)));
      await waitFor(() => running === 4);
      for (const n of names) gateFor(n).resolve();
      assert.deepEqual((await Promise.all(calls)).map(dec), names);
      assert.equal(maxRunning, 4);
    } finally {
      c.close();
    }
  });

  test('even stream ids are refused with INVALID_ARGUMENT "stream id must be odd"', async () => {
    const raw = await RawConnection.connect(path);
    try {
      raw.write(requestFrame(2, { service: 'test.Echo', method: 'Echo' }));
      const { streamId, response } = await raw.nextResponse();
      assert.equal(streamId, 2);
      assert.deepEqual(response.status, {
        code: GrpcCode.INVALID_ARGUMENT,
        message: 'stream id must be odd',
        details: [],
      });
    } finally {
      raw.close();
    }
  });

  test('an oversized frame gets INVALID_ARGUMENT on its stream and the connection stays usable', async () => {
    const raw = await RawConnection.connect(path);
    try {
      const big = MAX_MESSAGE_LENGTH + 1;
      const header = Buffer.alloc(10);
      header.writeUInt32BE(big, 0);
      header.writeUInt32BE(5, 4);
      header[8] = MessageType.Request;
      raw.write(header);
      raw.write(Buffer.alloc(big));
      raw.write(requestFrame(7, { service: 'test.Echo', method: 'Echo', payload: enc('still here') }));
      const first = await raw.nextResponse();
      assert.equal(first.streamId, 5);
      assert.deepEqual(first.response.status, {
        code: GrpcCode.INVALID_ARGUMENT,
        message: `message length ${big} exceed maximum message size of 4194304`,
        details: [],
      });
      const second = await raw.nextResponse();
      assert.equal(second.streamId, 7);
      assert.equal(dec(second.response.payload), 'still here');
    } finally {
      raw.close();
    }
  });

  test('a response over 4 MiB is replaced by an INVALID_ARGUMENT status', async () => {
    const c = await TtrpcClient.connect(path);
    try {
      const ok = await c.call('test.Echo', 'Big', enc(String(MAX_MESSAGE_LENGTH - 16)));
      assert.equal(ok.length, MAX_MESSAGE_LENGTH - 16);
      await rejectsStatus(
        c.call('test.Echo', 'Big', enc(String(MAX_MESSAGE_LENGTH))),
        GrpcCode.INVALID_ARGUMENT,
        /^message length \d+ exceed maximum message size of 4194304$/,
      );
    } finally {
      c.close();
    }
  });

  test('an undecodable Request gets INVALID_ARGUMENT; unknown frame types are ignored', async () => {
    const raw = await RawConnection.connect(path);
    try {
      raw.write(encodeFrame(9, MessageType.Request, Buffer.from('0a05ff', 'hex')));
      const bad = await raw.nextResponse();
      assert.equal(bad.streamId, 9);
      assert.equal(bad.response.status?.code, GrpcCode.INVALID_ARGUMENT);
      assert.match(bad.response.status!.message, /index out of range/);
      raw.write(encodeFrame(11, MessageType.Data, enc('data frame')));
      raw.write(encodeFrame(13, 0x7f, enc('future type')));
      raw.write(requestFrame(15, { service: 'test.Echo', method: 'Echo', payload: enc('ok') }));
      const next = await raw.nextResponse();
      assert.equal(next.streamId, 15);
      assert.equal(dec(next.response.payload), 'ok');
    } finally {
      raw.close();
    }
  });

  test('invalid UTF-8 in Request.service is an undecodable Request', async () => {
    const raw = await RawConnection.connect(path);
    try {
      // field 1 (service), length 2, bytes ff fe
      raw.write(encodeFrame(1, MessageType.Request, Buffer.from('0a02fffe', 'hex')));
      const { response } = await raw.nextResponse();
      assert.equal(response.status?.code, GrpcCode.INVALID_ARGUMENT);
    } finally {
      raw.close();
    }
  });

  test('EOF from the peer cancels its running handlers', async () => {
    const raw = await RawConnection.connect(path);
    const before = seen.aborted.length;
    const started = hangsStarted;
    raw.write(requestFrame(1, { service: 'test.Echo', method: 'Hang' }));
    await waitFor(() => hangsStarted > started);
    raw.socket.end();
    await waitFor(() => seen.aborted.length > before);
    assert.equal(await raw.next(), undefined, 'the server closes its side too');
    raw.close();
  });

  test('a peer that does not read its answers stops being read from, then recovers', async () => {
    let bigCalls = 0;
    server.register('test.Flood', 'Big', async () => {
      bigCalls++;
      return new Uint8Array(1 << 20);
    });
    const raw = await RawConnection.connect(path);
    try {
      raw.socket.pause(); // read nothing: answers pile up on the server side
      const n = 40;
      for (let i = 0; i < n; i++)
        raw.write(requestFrame(2 * i + 1, { service: 'test.Flood', method: 'Big' }));
      // 2 × 4 MiB of unsent answers (plus kernel buffers) stop the reading; the count must plateau.
      await waitFor(() => bigCalls >= 8);
      let last = -1;
      while (last !== bigCalls) {
        last = bigCalls;
        await new Promise((r) => setTimeout(r, 150));
      }
      assert.ok(bigCalls < n, `server kept reading: ${bigCalls} handlers ran`);
      raw.socket.resume();
      for (let i = 0; i < n; i++) assert.equal((await raw.nextResponse()).response.payload.length, 1 << 20);
      assert.equal(bigCalls, n);
    } finally {
      raw.close();
    }
  });

  test('fuzz: random bytes never crash the server; it keeps serving', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 64 }),
            fc
              .record({
                id: fc.integer({ min: 0, max: 20 }),
                type: fc.integer({ min: 0, max: 4 }),
                body: fc.uint8Array({ maxLength: 40 }),
              })
              .map(({ id, type, body }) => encodeFrame(id, type, body)),
          ),
          { maxLength: 6 },
        ),
        async (chunks) => {
          const raw = await RawConnection.connect(path);
          for (const ch of chunks) raw.write(ch);
          raw.socket.end();
          while ((await raw.next()) !== undefined) {
            /* drain whatever is answered */
          }
          raw.close();
        },
      ),
      { numRuns: 40 },
    );
    const c = await TtrpcClient.connect(path);
    try {
      assert.equal(dec(await c.call('test.Echo', 'Echo', enc('alive'))), 'alive');
    } finally {
      c.close();
    }
  });

  function gateFor(name: string) {
    let g = gates.get(name);
    if (!g) {
      g = deferred();
      gates.set(name, g);
    }
    return g;
  }
});

describe('TtrpcServer socket lifecycle', () => {
  test('a stale socket file is replaced; close() removes the socket', async () => {
    const tmp = tempSocketDir();
    const path = tmp.path();
    try {
      // A socket inode nobody listens on, as a crashed server leaves behind: hard-link a live socket,
      // then close that server (which unlinks only its own name).
      const dead = createServer();
      const live = tmp.path('live.sock');
      await new Promise<void>((r) => dead.listen(live, r));
      linkSync(live, path);
      await new Promise<void>((r) => dead.close(() => r()));
      assert.ok(statSync(path).isSocket());
      const s = new TtrpcServer();
      await s.listen(path);
      assert.equal(statSync(path).mode & 0o777, 0o600);
      await s.close();
      assert.throws(() => statSync(path), /ENOENT/);
    } finally {
      tmp.cleanup();
    }
  });

  test('a live socket is not taken over', async () => {
    const tmp = tempSocketDir();
    const path = tmp.path();
    const first = new TtrpcServer();
    try {
      await first.listen(path);
      const second = new TtrpcServer();
      await assert.rejects(
        second.listen(path),
        (e: unknown) => e instanceof TtrpcError && e.code === 'TTRPC_ADDRESS_IN_USE',
      );
      // The first server still works.
      first.register('a.B', 'C', async () => enc('first'));
      const c = await TtrpcClient.connect(path);
      assert.equal(dec(await c.call('a.B', 'C', new Uint8Array(0))), 'first');
      c.close();
    } finally {
      await first.close();
      tmp.cleanup();
    }
  });

  test('a regular file at the path is never deleted', async () => {
    const tmp = tempSocketDir();
    const path = tmp.path();
    try {
      writeFileSync(path, 'precious');
      await assert.rejects(
        new TtrpcServer().listen(path),
        (e: unknown) => e instanceof TtrpcError && e.code === 'TTRPC_ADDRESS_IN_USE',
      );
      assert.ok(statSync(path).isFile());
    } finally {
      tmp.cleanup();
    }
  });

  test('bad addresses and misuse are refused clearly', async () => {
    await assert.rejects(
      new TtrpcServer().listen('tcp://127.0.0.1:1'),
      /socket address scheme is not expected/,
    );
    await assert.rejects(new TtrpcServer().listen(`/tmp/${'x'.repeat(200)}`), /longer than 107 bytes/);
    const s = new TtrpcServer();
    s.register('a.B', 'C', async (r) => r);
    assert.throws(() => s.register('a.B', 'C', async (r) => r), /already registered/);
  });

  test('close() aborts running handlers and fails the clients', async () => {
    const tmp = tempSocketDir();
    const s = new TtrpcServer();
    let aborted = false;
    const started = deferred();
    s.register('a.B', 'Hang', (_r, ctx) => {
      started.resolve();
      return new Promise((_res, rej) =>
        ctx.signal.addEventListener('abort', () => {
          aborted = true;
          rej(ctx.signal.reason);
        }),
      );
    });
    try {
      await s.listen(tmp.path());
      const c = await TtrpcClient.connect(tmp.path());
      const p = c.call('a.B', 'Hang', new Uint8Array(0)).catch((e) => e);
      await started.promise;
      await s.close();
      assert.equal(((await p) as TtrpcError).code, 'TTRPC_CONNECTION_CLOSED');
      assert.ok(aborted);
      c.close();
    } finally {
      await s.close();
      tmp.cleanup();
    }
  });
});

async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
