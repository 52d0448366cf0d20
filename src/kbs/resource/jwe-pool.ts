import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { encryptResourceResponse, type PreparedTeeKey } from '../../crypto/jwe.js';
import type { JweJob, JweResult } from './jwe-worker.js';

/*
 * The JWE of a resource response (an ECDH or RSA operation) is most of a GET's CPU. On a multi-core
 * machine it runs on worker threads, so the event loop keeps parsing, authorizing and answering other
 * requests meanwhile; with no workers (one core, or `crypto_workers = 0`) it runs inline. Jobs go to the
 * worker with the fewest in flight. A worker that dies is replaced and its jobs fail (the request gets
 * `JweError`); nothing is retried with secret material in an unknown state.
 */

export class JweFailure extends Error {}

interface Slot {
  worker: Worker;
  inflight: Map<number, { resolve: (body: string) => void; reject: (e: Error) => void }>;
}

export function defaultWorkerCount(): number {
  const n = availableParallelism();
  return n < 2 ? 0 : Math.min(4, n - 1);
}

function newWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./jwe-worker.js', import.meta.url));
  // Running from sources under tsx (tests): the loader is not inherited by workers, so register it.
  const url = new URL('./jwe-worker.ts', import.meta.url).href;
  return new Worker(
    `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url)}); });`,
    { eval: true },
  );
}

/** After this many worker deaths the pool gives up and encrypts inline (no crash loop). */
const MAX_RESPAWNS = 5;

export class JwePool {
  readonly #slots: Slot[] = [];
  #next = 1;
  #closed = false;
  #deaths = 0;

  /** Called when a worker dies for good and the pool shrinks (possibly to inline encryption). */
  onDegraded?: (why: string) => void;

  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) this.#slots.push(this.#spawn());
  }

  #spawn(): Slot {
    const slot: Slot = { worker: newWorker(), inflight: new Map() };
    slot.worker.unref();
    slot.worker.on('message', (r: JweResult) => {
      const p = slot.inflight.get(r.id);
      if (!p) return;
      slot.inflight.delete(r.id);
      if ('body' in r) p.resolve(r.body);
      else p.reject(new JweFailure(r.error));
    });
    const fail = (why: string) => {
      for (const p of slot.inflight.values()) p.reject(new JweFailure(why));
      slot.inflight.clear();
      const i = this.#slots.indexOf(slot);
      if (this.#closed || i < 0) return;
      if (++this.#deaths > MAX_RESPAWNS) {
        this.#slots.splice(i, 1);
        this.onDegraded?.(why);
        return;
      }
      this.#slots[i] = this.#spawn();
    };
    slot.worker.on('error', (e) => fail(`JWE worker failed: ${e.message}`));
    slot.worker.on('exit', (code) => fail(`JWE worker exited with code ${code}`));
    return slot;
  }

  /** The serialized JWE body for `key`. */
  encrypt(key: PreparedTeeKey, plaintext: Uint8Array): Promise<string> {
    if (this.#slots.length === 0 || this.#closed) {
      try {
        return Promise.resolve(JSON.stringify(encryptResourceResponse(key, plaintext)));
      } catch (e) {
        return Promise.reject(new JweFailure((e as Error).message));
      }
    }
    let slot = this.#slots[0];
    for (const s of this.#slots) if (s.inflight.size < slot.inflight.size) slot = s;
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      slot.inflight.set(id, { resolve, reject });
      const job: JweJob = { id, jwk: JSON.stringify(key.jwk), plaintext: new Uint8Array(plaintext) };
      slot.worker.postMessage(job, [job.plaintext.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
    this.#slots.length = 0;
  }
}
