import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeResponse, type TtrpcResponse } from './codec.js';
import { type Frame, FrameReader } from './frame.js';

/*
 * Test support for ttRPC suites (not used by production code): private socket folders and a raw
 * frame-level connection for sending what a well-behaved client never would.
 */

/** A fresh 0700 temp folder; `cleanup()` removes it. Socket paths stay well under 108 bytes. */
export function tempSocketDir(): { dir: string; path(name?: string): string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'ttrpc-'));
  return {
    dir,
    path: (name = 's.sock') => join(dir, name),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export class RawConnection {
  readonly socket: Socket;
  readonly #reader = new FrameReader();
  readonly #frames: Frame[] = [];
  readonly #waiters: Array<(f: Frame | undefined) => void> = [];
  #ended = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.#reader.push(chunk)) {
        const w = this.#waiters.shift();
        if (w) w(f);
        else this.#frames.push(f);
      }
    });
    const end = () => {
      this.#ended = true;
      for (const w of this.#waiters.splice(0)) w(undefined);
    };
    socket.on('close', end);
    socket.on('error', end);
  }

  static connect(path: string): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const s = createConnection({ path });
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new RawConnection(s));
      });
    });
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The next frame, or undefined once the connection has closed. */
  next(timeoutMs = 5000): Promise<Frame | undefined> {
    const f = this.#frames.shift();
    if (f) return Promise.resolve(f);
    if (this.#ended) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new Error(`no frame within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (x: Frame | undefined) => {
        clearTimeout(timer);
        resolve(x);
      };
      this.#waiters.push(waiter);
    });
  }

  /** The next frame decoded as a Response, with its stream id. */
  async nextResponse(timeoutMs?: number): Promise<{ streamId: number; response: TtrpcResponse }> {
    const f = await this.next(timeoutMs);
    if (!f?.payload) throw new Error('connection closed (or oversized frame) instead of a response');
    return { streamId: f.header.streamId, response: decodeResponse(f.payload) };
  }

  close(): void {
    this.socket.destroy();
  }
}
