import type { Socket } from 'node:net';
import { decodeRequest, encodeResponse, type TtrpcRequest, type TtrpcResponse } from './codec.js';
import { TtrpcError, TtrpcStatusError } from './errors.js';
import {
  type Frame,
  FrameReader,
  MAX_MESSAGE_LENGTH,
  MessageType,
  oversizedMessage,
  writeFrame,
} from './frame.js';
import type { TtrpcHandler, TtrpcLogger } from './handler.js';
import { GrpcCode } from './status.js';

/** What a connection needs from its server. */
export interface ConnectionHost {
  lookup(service: string, method: string): TtrpcHandler | 'no-service' | 'no-method';
  log: TtrpcLogger;
  /** Handlers running at once on this connection; further frames wait (and the socket is paused). */
  maxConcurrentCalls: number;
}

/** Longest service/method name echoed back in a status message. */
const MAX_ECHOED_NAME = 256;
/** Unsent answer bytes above which reading pauses until the socket drains. */
const MAX_UNSENT_BYTES = 2 * MAX_MESSAGE_LENGTH;
/** setTimeout's ceiling (~24.8 days); longer deadlines are not armed. */
const MAX_TIMER_MS = 0x7fffffff;

/**
 * One accepted connection: parses frames, dispatches requests concurrently, answers in completion
 * order. Framework answers follow ttrpc-rust, which upstream CDH and the kata-agent use (cdh.md §2.3,
 * §3.1). Nothing a peer sends can throw out of here: every failure becomes a status or a close.
 */
export class ServerConnection {
  readonly #socket: Socket;
  readonly #host: ConnectionHost;
  readonly #reader = new FrameReader();
  readonly #queue: Frame[] = [];
  /** Streams awaiting an answer → their cancellation and deadline timer. */
  readonly #open = new Map<number, OpenCall>();
  /** Handlers that have not settled yet (a timed-out handler still holds its slot). */
  #running = 0;
  #waitingDrain = false;
  #paused = false;
  #closed = false;

  constructor(socket: Socket, host: ConnectionHost) {
    this.#socket = socket;
    this.#host = host;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('drain', () => {
      this.#waitingDrain = false;
      this.#pump();
    });
    // EOF from the peer ends the connection like Go ttrpc does: running handlers are cancelled and
    // Node (allowHalfOpen off) flushes what is already written, then closes our side.
    socket.on('end', () => this.#onClose());
    socket.on('error', (e) => host.log('debug', 'ttrpc connection error', e));
    socket.on('close', () => this.#onClose());
  }

  /** Drops the connection; running handlers see their signal abort. */
  destroy(): void {
    this.#socket.destroy();
    this.#onClose();
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    for (const f of this.#reader.push(chunk)) this.#queue.push(f);
    this.#pump();
  }

  #pump(): void {
    while (
      this.#queue.length > 0 &&
      !this.#closed &&
      !this.#waitingDrain &&
      this.#running < this.#host.maxConcurrentCalls
    ) {
      this.#handleFrame(this.#queue.shift()!);
    }
    if (this.#closed) return;
    const pause = this.#queue.length > 0 || this.#waitingDrain;
    if (pause !== this.#paused) {
      this.#paused = pause;
      if (pause) this.#socket.pause();
      else this.#socket.resume();
    }
  }

  #handleFrame(f: Frame): void {
    const id = f.header.streamId;
    // ttrpc-rust checks the id's parity before anything else about the frame.
    if (id % 2 === 0) {
      this.#answerStatus(id, GrpcCode.INVALID_ARGUMENT, 'stream id must be odd');
      return;
    }
    if (f.oversized) {
      this.#host.log('warn', `discarded an oversized frame (${f.header.length} bytes) on stream ${id}`);
      this.#answerStatus(id, GrpcCode.INVALID_ARGUMENT, oversizedMessage(f.header.length));
      return;
    }
    if (f.header.type !== MessageType.Request) {
      // Forward compatibility (and no streaming support): unknown types are ignored.
      this.#host.log('debug', `ignored a frame of type ${f.header.type} on stream ${id}`);
      return;
    }
    let req: TtrpcRequest;
    try {
      req = decodeRequest(f.payload);
    } catch (e) {
      const message = e instanceof TtrpcError ? e.message : 'ttrpc.Request does not decode';
      this.#answerStatus(id, GrpcCode.INVALID_ARGUMENT, message);
      return;
    }
    if (this.#open.has(id)) {
      // Answering would look like the reply to the call already running on that stream.
      this.#host.log('warn', `ignored a request reusing the busy stream id ${id}`);
      return;
    }
    this.#dispatch(id, req);
  }

  #dispatch(id: number, req: TtrpcRequest): void {
    const target = this.#host.lookup(req.service, req.method);
    if (target === 'no-service') {
      this.#answerStatus(id, GrpcCode.INVALID_ARGUMENT, `${clip(req.service)} service does not exist`);
      return;
    }
    if (target === 'no-method') {
      this.#answerStatus(id, GrpcCode.UNIMPLEMENTED, `${clip(req.method)} method`);
      return;
    }

    const ac = new AbortController();
    const call: OpenCall = { ac };
    this.#open.set(id, call);
    this.#running++;
    const timeoutMs = req.timeoutNano > 0 ? req.timeoutNano / 1e6 : undefined;
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;

    const answer = (resp: TtrpcResponse): void => {
      if (this.#open.get(id) !== call) return; // answered already (deadline), or connection gone
      this.#open.delete(id);
      clearTimeout(call.timer);
      this.#send(id, resp);
    };
    if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) {
      call.timer = setTimeout(
        () => {
          ac.abort(new TtrpcStatusError(GrpcCode.DEADLINE_EXCEEDED, 'timeout'));
          answer(statusResponse(GrpcCode.DEADLINE_EXCEEDED, 'timeout'));
        },
        Math.max(1, Math.ceil(timeoutMs)),
      );
    }

    const metadata = new Map<string, string[]>();
    for (const { key, value } of req.metadata) {
      const values = metadata.get(key);
      if (values) values.push(value);
      else metadata.set(key, [value]);
    }
    const ctx = { service: req.service, method: req.method, metadata, deadline, signal: ac.signal };

    Promise.resolve()
      .then(() => target(req.payload, ctx))
      .then(
        (out) => {
          if (out instanceof Uint8Array) return answer({ payload: out });
          this.#host.log('error', `handler ${req.service}/${req.method} returned a non-byte value`);
          answer(statusResponse(GrpcCode.INTERNAL, 'internal error'));
        },
        (err: unknown) => answer(this.#errorResponse(err, req)),
      )
      .finally(() => {
        this.#running--;
        this.#pump();
      });
  }

  #errorResponse(err: unknown, req: TtrpcRequest): TtrpcResponse {
    if (err instanceof TtrpcStatusError) {
      return {
        status: { code: err.grpcCode, message: err.message, details: [...err.details] },
        payload: empty,
      };
    }
    // Never put an arbitrary error on the wire: it may quote secret input.
    this.#host.log('error', `handler ${req.service}/${req.method} failed`, err);
    return statusResponse(GrpcCode.INTERNAL, 'internal error');
  }

  #answerStatus(id: number, code: number, message: string): void {
    this.#send(id, statusResponse(code, message));
  }

  #send(id: number, resp: TtrpcResponse): void {
    if (this.#closed) return;
    let body = encodeResponse(resp);
    if (body.length > MAX_MESSAGE_LENGTH) {
      this.#host.log('warn', `response on stream ${id} is ${body.length} bytes, over the limit`);
      body = encodeResponse(statusResponse(GrpcCode.INVALID_ARGUMENT, oversizedMessage(body.length)));
    }
    if (this.#socket.destroyed || !this.#socket.writable) return;
    // A peer that does not read its answers stops being read from (bounded memory), but a few
    // large answers in the socket buffer are normal and must not serialize the connection.
    const ok = writeFrame(this.#socket, id, MessageType.Response, body);
    if (!ok && this.#socket.writableLength > MAX_UNSENT_BYTES) this.#waitingDrain = true;
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    const reason = new TtrpcError('TTRPC_CONNECTION_CLOSED', 'the ttRPC connection closed');
    for (const { ac, timer } of this.#open.values()) {
      clearTimeout(timer);
      ac.abort(reason);
    }
    this.#open.clear();
  }
}

interface OpenCall {
  ac: AbortController;
  timer?: NodeJS.Timeout;
}

const empty = new Uint8Array(0);

function statusResponse(code: number, message: string): TtrpcResponse {
  return { status: { code, message, details: [] }, payload: empty };
}

function clip(name: string): string {
  return name.length > MAX_ECHOED_NAME ? `${name.slice(0, MAX_ECHOED_NAME)}…` : name;
}
