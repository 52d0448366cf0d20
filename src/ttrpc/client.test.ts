import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { TtrpcClient } from './client.js';
import { decodeRequest, encodeResponse, type TtrpcRequest } from './codec.js';
import { TtrpcError, TtrpcStatusError } from './errors.js';
import { encodeFrame, type Frame, FrameReader, MAX_MESSAGE_LENGTH, MessageType } from './frame.js';
import { GrpcCode } from './status.js';
import { tempSocketDir } from './testing.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/**
 * A scripted peer: records every frame the client sends and lets each test decide what to answer,
 * including things a correct server never sends.
 */
class FakeServer {
  readonly frames: Array<{ frame: Frame; request?: TtrpcRequest }> = [];
  bytesReceived = 0;
  onRequest: (id: number, req: TtrpcRequest, sock: Socket) => void = () => {};
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  constructor() {
    this.#server = createServer((sock) => {
      this.#sockets.add(sock);
      sock.on('close', () => this.#sockets.delete(sock));
      const reader = new FrameReader();
      sock.on('data', (chunk: Buffer) => {
        this.bytesReceived += chunk.length;
        for (const frame of reader.push(chunk)) {
          const request = frame.payload ? decodeRequest(frame.payload) : undefined;
          this.frames.push({ frame, request });
          if (request) this.onRequest(frame.header.streamId, request, sock);
        }
      });
      sock.on('error', () => {});
    });
  }

  listen(path: string): Promise<void> {
    return new Promise((r) => this.#server.listen(path, r));
  }

  dropConnections(): void {
    for (const s of this.#sockets) s.destroy();
  }

  close(): Promise<void> {
    this.dropConnections();
    return new Promise((r) => this.#server.close(() => r()));
  }
}

function answer(sock: Socket, id: number, payload: Uint8Array, code = 0, message = ''): void {
  sock.write(
    encodeFrame(
      id,
      MessageType.Response,
      encodeResponse({ status: { code, message, details: [] }, payload }),
    ),
  );
}

describe('TtrpcClient', () => {
  const tmp = tempSocketDir();
  const path = tmp.path();
  const fake = new FakeServer();
  before(() => fake.listen(path));
  after(async () => {
    await fake.close();
    tmp.cleanup();
  });

  test('stream ids are odd and increase by 2; request fields are sent as given', async () => {
    fake.frames.length = 0;
    fake.onRequest = (id, req, sock) => answer(sock, id, req.payload);
    const c = await TtrpcClient.connect(path);
    try {
      for (const s of ['a', 'b', 'c'])
        assert.equal(dec(await c.call('svc.S', 'M', enc(s), { metadata: { k: ['1', '2'] } })), s);
      assert.deepEqual(
        fake.frames.map((f) => f.frame.header.streamId),
        [1, 3, 5],
      );
      const r = fake.frames[0].request!;
      assert.equal(fake.frames[0].frame.header.type, MessageType.Request);
      assert.equal(fake.frames[0].frame.header.flags, 0);
      assert.equal(r.service, 'svc.S');
      assert.equal(r.method, 'M');
      assert.equal(r.timeoutNano, 0);
      assert.deepEqual(r.metadata, [
        { key: 'k', value: '1' },
        { key: 'k', value: '2' },
      ]);
    } finally {
      c.close();
    }
  });

  test('answers are matched by stream id, in any order', async () => {
    const held: Array<() => void> = [];
    fake.onRequest = (id, req, sock) => held.push(() => answer(sock, id, req.payload));
    const c = await TtrpcClient.connect(path);
    try {
      const calls = ['x', 'y', 'z'].map((s) => c.call('svc.S', 'M', enc(s)));
      while (held.length < 3) await new Promise((r) => setTimeout(r, 5));
      for (const i of [2, 0, 1]) held[i]();
      assert.deepEqual((await Promise.all(calls)).map(dec), ['x', 'y', 'z']);
    } finally {
      c.close();
    }
  });

  test('a status answer rejects with TtrpcStatusError; a missing status is success', async () => {
    fake.onRequest = (id, req, sock) => {
      if (req.method === 'Fail')
        answer(sock, id, new Uint8Array(0), 13, '[CDH] [ERROR]: Unseal Secret failed');
      else sock.write(encodeFrame(id, MessageType.Response, Buffer.from('1202abcd', 'hex'))); // payload only
    };
    const c = await TtrpcClient.connect(path);
    try {
      await assert.rejects(
        c.call('s.S', 'Fail', new Uint8Array(0)),
        (e: unknown) =>
          e instanceof TtrpcStatusError &&
          e.grpcCode === 13 &&
          e.grpcCodeName === 'INTERNAL' &&
          e.message === '[CDH] [ERROR]: Unseal Secret failed',
      );
      assert.deepEqual([...(await c.call('s.S', 'Ok', new Uint8Array(0)))], [0xab, 0xcd]);
    } finally {
      c.close();
    }
  });

  test('client deadline: timeout_nano is sent, DEADLINE_EXCEEDED locally, a late answer is dropped', async () => {
    const held: Array<() => void> = [];
    fake.frames.length = 0;
    fake.onRequest = (id, req, sock) => {
      if (req.method === 'Slow') held.push(() => answer(sock, id, enc('late')));
      else answer(sock, id, enc('fast'));
    };
    const c = await TtrpcClient.connect(path);
    try {
      const t0 = Date.now();
      await assert.rejects(
        c.call('s.S', 'Slow', new Uint8Array(0), { timeoutMs: 60 }),
        (e: unknown) => e instanceof TtrpcStatusError && e.grpcCode === GrpcCode.DEADLINE_EXCEEDED,
      );
      assert.ok(Date.now() - t0 >= 55);
      assert.equal(fake.frames[0].request!.timeoutNano, 60_000_000);
      held[0]();
      assert.equal(dec(await c.call('s.S', 'Fast', new Uint8Array(0))), 'fast');
      assert.equal(c.pendingCalls, 0);
    } finally {
      c.close();
    }
  });

  test('an abort signal cancels the call locally', async () => {
    fake.onRequest = () => {};
    const c = await TtrpcClient.connect(path);
    try {
      const ac = new AbortController();
      const p = c.call('s.S', 'M', new Uint8Array(0), { signal: ac.signal });
      ac.abort();
      await assert.rejects(
        p,
        (e: unknown) => e instanceof TtrpcStatusError && e.grpcCode === GrpcCode.CANCELLED,
      );
      await assert.rejects(c.call('s.S', 'M', new Uint8Array(0), { signal: ac.signal }), TtrpcStatusError);
    } finally {
      c.close();
    }
  });

  test('a request over 4 MiB is refused locally and nothing is written', async () => {
    fake.onRequest = (id, _req, sock) => answer(sock, id, enc('ok'));
    const c = await TtrpcClient.connect(path);
    try {
      const before = fake.bytesReceived;
      await assert.rejects(
        c.call('s.S', 'M', new Uint8Array(MAX_MESSAGE_LENGTH)),
        (e: unknown) =>
          e instanceof TtrpcError &&
          e.code === 'TTRPC_MESSAGE_TOO_LARGE' &&
          /exceed maximum message size of 4194304/.test(e.message),
      );
      assert.equal(dec(await c.call('s.S', 'M', new Uint8Array(0))), 'ok');
      assert.ok(fake.bytesReceived - before < 100, 'only the small call went out');
    } finally {
      c.close();
    }
  });

  test('an oversized or wrongly typed answer fails only its own call', async () => {
    fake.onRequest = (id, req, sock) => {
      if (req.method === 'Huge') {
        const h = Buffer.alloc(10);
        h.writeUInt32BE(MAX_MESSAGE_LENGTH + 1, 0);
        h.writeUInt32BE(id, 4);
        h[8] = MessageType.Response;
        sock.write(h);
        sock.write(Buffer.alloc(MAX_MESSAGE_LENGTH + 1));
      } else if (req.method === 'Data') {
        sock.write(encodeFrame(id, MessageType.Data, enc('?')));
      } else if (req.method === 'Garbage') {
        sock.write(encodeFrame(id, MessageType.Response, Buffer.from('0a05', 'hex')));
      } else answer(sock, id, enc('fine'));
    };
    const c = await TtrpcClient.connect(path);
    try {
      await assert.rejects(
        c.call('s.S', 'Huge', new Uint8Array(0)),
        (e: unknown) => e instanceof TtrpcError && e.code === 'TTRPC_MESSAGE_TOO_LARGE',
      );
      await assert.rejects(
        c.call('s.S', 'Data', new Uint8Array(0)),
        (e: unknown) => e instanceof TtrpcError && e.code === 'TTRPC_PROTOCOL',
      );
      await assert.rejects(
        c.call('s.S', 'Garbage', new Uint8Array(0)),
        (e: unknown) => e instanceof TtrpcError && e.code === 'TTRPC_PROTOCOL',
      );
      assert.equal(dec(await c.call('s.S', 'M', new Uint8Array(0))), 'fine');
    } finally {
      c.close();
    }
  });

  test('when the connection drops, pending and later calls fail with TTRPC_CONNECTION_CLOSED', async () => {
    let got = 0;
    fake.onRequest = () => {
      got++;
    };
    const c = await TtrpcClient.connect(path);
    const p = c.call('s.S', 'M', new Uint8Array(0));
    while (got === 0) await new Promise((r) => setTimeout(r, 5));
    fake.dropConnections();
    const isClosed = (e: unknown) => e instanceof TtrpcError && e.code === 'TTRPC_CONNECTION_CLOSED';
    await assert.rejects(p, isClosed);
    assert.ok(c.closed);
    await assert.rejects(c.call('s.S', 'M', new Uint8Array(0)), isClosed);
  });

  test('close() fails calls in flight', async () => {
    fake.onRequest = () => {};
    const c = await TtrpcClient.connect(path);
    const p = c.call('s.S', 'M', new Uint8Array(0));
    c.close();
    await assert.rejects(p, (e: unknown) => e instanceof TtrpcError && e.code === 'TTRPC_CONNECTION_CLOSED');
  });

  test('connecting to a missing socket fails with TTRPC_CONNECT_FAILED', async () => {
    await assert.rejects(
      TtrpcClient.connect(tmp.path('missing.sock')),
      (e: unknown) =>
        e instanceof TtrpcError && e.code === 'TTRPC_CONNECT_FAILED' && /ENOENT/.test(e.message),
    );
    await assert.rejects(TtrpcClient.connect('http://x'), /socket address scheme is not expected/);
  });
});
