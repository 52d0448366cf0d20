import { createConnection, type Socket } from 'node:net';
import { decodeResponse, encodeRequest } from './codec.js';
import { TtrpcError, TtrpcStatusError } from './errors.js';
import { FrameReader, MAX_MESSAGE_LENGTH, MessageType, oversizedMessage, writeFrame } from './frame.js';
import { parseUnixAddress } from './socket.js';
import { GrpcCode } from './status.js';

export interface TtrpcClientOptions {
  /** Give up connecting after this long. Default 10 s. */
  connectTimeoutMs?: number;
  /** Deadline for calls that set none; also sent as `timeout_nano`. Default: none. */
  defaultTimeoutMs?: number;
}

export interface TtrpcCallOptions {
  /** Client-side deadline, also sent to the server as `timeout_nano`. */
  timeoutMs?: number;
  /** Request metadata; an array sends the key once per value. */
  metadata?: Record<string, string | string[]>;
  /** Cancels the call locally (the server is not told: ttRPC unary calls have no cancel frame). */
  signal?: AbortSignal;
}

interface Pending {
  resolve(payload: Uint8Array): void;
  reject(err: Error): void;
}

/** Odd ids from 1, +2 per call (cdh.md §3.1); the last odd u32 is 0xffffffff. */
const LAST_STREAM_ID = 0xffffffff;
const MAX_TIMER_MS = 0x7fffffff;

/**
 * A ttRPC client on one unix-socket connection. Calls are multiplexed: any number may be in flight,
 * and answers are matched by stream id. The connection is not re-established; after it closes every
 * call fails with TTRPC_CONNECTION_CLOSED and the owner connects again.
 */
export class TtrpcClient {
  readonly #socket: Socket;
  readonly #reader = new FrameReader();
  readonly #pending = new Map<number, Pending>();
  readonly #defaultTimeoutMs: number | undefined;
  #nextId = 1;
  #closedError: TtrpcError | undefined;

  private constructor(socket: Socket, options: TtrpcClientOptions) {
    this.#socket = socket;
    this.#defaultTimeoutMs = options.defaultTimeoutMs;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (e) => this.#fail(`the ttRPC connection failed: ${e.message}`));
    socket.on('close', () => this.#fail('the ttRPC connection closed'));
  }

  /** Connects to `address` (a socket path or `unix://path`). */
  static async connect(address: string, options: TtrpcClientOptions = {}): Promise<TtrpcClient> {
    const path = parseUnixAddress(address);
    const timeoutMs = options.connectTimeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const socket = createConnection({ path });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new TtrpcError('TTRPC_CONNECT_FAILED', `no connection to ${path} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          new TtrpcError('TTRPC_CONNECT_FAILED', `cannot connect to ${path}: ${e.code ?? e.message}`, {
            cause: e,
          }),
        );
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new TtrpcClient(socket, options));
      });
    });
  }

  get closed(): boolean {
    return this.#closedError !== undefined;
  }

  /** Calls in flight. */
  get pendingCalls(): number {
    return this.#pending.size;
  }

  /**
   * One unary call. Resolves with the serialized output message; rejects with TtrpcStatusError when
   * the server answers a status (or the deadline passes: DEADLINE_EXCEEDED; or `signal`: CANCELLED),
   * TTRPC_MESSAGE_TOO_LARGE when the request exceeds 4 MiB (nothing is sent), TTRPC_CONNECTION_CLOSED.
   */
  call(
    service: string,
    method: string,
    payload: Uint8Array,
    options: TtrpcCallOptions = {},
  ): Promise<Uint8Array> {
    if (this.#closedError) return Promise.reject(this.#closedError);
    const timeoutMs = options.timeoutMs ?? this.#defaultTimeoutMs;
    if (timeoutMs !== undefined && !(timeoutMs > 0)) {
      return Promise.reject(new RangeError('timeoutMs must be a positive number'));
    }
    if (options.signal?.aborted) return Promise.reject(cancelled(service, method));

    const metadata: Array<{ key: string; value: string }> = [];
    for (const [key, v] of Object.entries(options.metadata ?? {})) {
      for (const value of Array.isArray(v) ? v : [v]) metadata.push({ key, value });
    }
    const body = encodeRequest({
      service,
      method,
      payload,
      timeoutNano: timeoutMs === undefined ? 0 : Math.round(timeoutMs * 1e6),
      metadata,
    });
    if (body.length > MAX_MESSAGE_LENGTH) {
      // Like the upstream Rust client: refuse locally rather than have the server discard it.
      return Promise.reject(new TtrpcError('TTRPC_MESSAGE_TOO_LARGE', oversizedMessage(body.length)));
    }
    if (this.#nextId > LAST_STREAM_ID) {
      return Promise.reject(
        new TtrpcError('TTRPC_STREAM_IDS_EXHAUSTED', 'this connection has used every stream id; reconnect'),
      );
    }
    const id = this.#nextId;
    this.#nextId += 2;

    return new Promise<Uint8Array>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => settle(() => reject(cancelled(service, method)));
      const settle = (fn: () => void) => {
        if (this.#pending.get(id) !== pending) return;
        this.#pending.delete(id);
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const pending: Pending = {
        resolve: (p) => settle(() => resolve(p)),
        reject: (e) => settle(() => reject(e)),
      };
      this.#pending.set(id, pending);
      if (timeoutMs !== undefined && timeoutMs <= MAX_TIMER_MS) {
        timer = setTimeout(() => {
          // A late answer on this stream is dropped (its id is no longer pending).
          pending.reject(
            new TtrpcStatusError(
              GrpcCode.DEADLINE_EXCEEDED,
              `${service}/${method}: no answer within ${timeoutMs} ms (client deadline)`,
            ),
          );
        }, Math.ceil(timeoutMs));
      }
      options.signal?.addEventListener('abort', onAbort, { once: true });
      writeFrame(this.#socket, id, MessageType.Request, body);
    });
  }

  /** Closes the connection; calls in flight fail with TTRPC_CONNECTION_CLOSED. */
  close(): void {
    this.#fail('the ttRPC client was closed');
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    for (const f of this.#reader.push(chunk)) {
      const pending = this.#pending.get(f.header.streamId);
      if (!pending) continue; // late answer after a local deadline, or a stream we never opened
      if (f.oversized) {
        pending.reject(new TtrpcError('TTRPC_MESSAGE_TOO_LARGE', oversizedMessage(f.header.length)));
        continue;
      }
      if (f.header.type !== MessageType.Response) {
        pending.reject(
          new TtrpcError(
            'TTRPC_PROTOCOL',
            `unexpected frame type ${f.header.type} on stream ${f.header.streamId}`,
          ),
        );
        continue;
      }
      try {
        const resp = decodeResponse(f.payload);
        if (resp.status && resp.status.code !== GrpcCode.OK) {
          const { code, message, details } = resp.status;
          pending.reject(new TtrpcStatusError(code, message, { details }));
        } else {
          pending.resolve(resp.payload);
        }
      } catch (e) {
        pending.reject(e instanceof Error ? e : new TtrpcError('TTRPC_PROTOCOL', String(e)));
      }
    }
  }

  #fail(message: string): void {
    if (!this.#closedError) this.#closedError = new TtrpcError('TTRPC_CONNECTION_CLOSED', message);
    for (const p of [...this.#pending.values()]) p.reject(this.#closedError);
  }
}

function cancelled(service: string, method: string): TtrpcStatusError {
  return new TtrpcStatusError(GrpcCode.CANCELLED, `${service}/${method}: cancelled by the caller`);
}
