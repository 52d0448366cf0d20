import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { encryptResourceResponse, type PreparedTeeKey } from '../../crypto/jwe.js';
import type { JweBatch, JweBatchResult } from './jwe-worker.js';

/*
 * The JWE of a resource response (an ECDH or RSA operation) is most of a GET's CPU. On a multi-core
 * machine it runs on worker threads, so the event loop keeps parsing, authorizing and answering other
 * requests meanwhile; with no workers (one core, or `crypto_workers = 0`) it runs inline.
 *
 * Jobs wait in one FIFO queue. Each worker is kept fed with up to WORKER_DEPTH jobs, sent in batches
 * of at most MAX_BATCH: the hand-off costs (structured clone, a wake-up and an event per message, on
 * both threads) are then paid per batch, and the worker answers a batch with one message. A job that
 * finds an idle worker goes out at once; the others are posted at the end of the event-loop turn.
 * Jobs still queued once the workers are full are taken by the event loop itself, one per loop
 * iteration (in `setImmediate`, after pending I/O has been served): the event loop only encrypts when
 * it has nothing else to do, and its core does not idle while the workers are saturated (on a two-core
 * machine that is a large part of the throughput).
 *
 * A worker that dies is replaced and its jobs fail (the request gets `JweError`); nothing is retried
 * with secret material in an unknown state.
 */

export class JweFailure extends Error {}

/** Jobs posted to one worker and not yet answered: the batch it works on and the next one. */
const WORKER_DEPTH = 16;
/** Jobs per message to a worker (and per reply: the first job of a batch waits for the last). */
const MAX_BATCH = 8;

interface Job {
  id: number;
  key: PreparedTeeKey;
  /** Read when the job is posted or run, within the event-loop turn that queued it or later. */
  plaintext: Uint8Array;
  resolve: (body: string) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  /** Posted to the worker, awaiting its reply. */
  inflight: Map<number, Job>;
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

/** The JSON a worker receives for a key, serialized once per prepared key (that is, once per token). */
const jwkJson = new WeakMap<PreparedTeeKey, string>();
function jsonOf(key: PreparedTeeKey): string {
  let s = jwkJson.get(key);
  if (s === undefined) {
    s = JSON.stringify(key.jwk);
    jwkJson.set(key, s);
  }
  return s;
}

function encryptNow(key: PreparedTeeKey, plaintext: Uint8Array): string {
  try {
    return JSON.stringify(encryptResourceResponse(key, plaintext));
  } catch (e) {
    throw new JweFailure((e as Error).message);
  }
}

export class JwePool {
  readonly #slots: Slot[] = [];
  /** Jobs not yet given to a worker (FIFO from `#head`; taken slots are cleared). */
  #queue: (Job | undefined)[] = [];
  #head = 0;
  #next = 1;
  #closed = false;
  #deaths = 0;
  #scheduled = false;
  /** Jobs done so far: by workers (and in how many batches), and by the event loop. */
  readonly stats = { workerJobs: 0, batches: 0, eventLoopJobs: 0 };
  readonly #onImmediate = () => {
    this.#scheduled = false;
    this.#feed();
    // Still queued: every worker is full. The event loop takes one job, then serves I/O again.
    if (this.#head < this.#queue.length) {
      const job = this.#take(1)[0];
      this.stats.eventLoopJobs++;
      try {
        job.resolve(encryptNow(job.key, job.plaintext));
      } catch (e) {
        job.reject(e as Error);
      }
    }
    if (this.#head < this.#queue.length) this.#schedule();
  };

  /** Called when a worker dies for good and the pool shrinks (possibly to inline encryption). */
  onDegraded?: (why: string) => void;

  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) this.#slots.push(this.#spawn());
  }

  #spawn(): Slot {
    const slot: Slot = { worker: newWorker(), inflight: new Map() };
    slot.worker.unref();
    slot.worker.on('message', (r: JweBatchResult) => {
      let f = 0;
      for (let i = 0; i < r.ids.length; i++) {
        const failed = r.failed[f] === i;
        if (failed) f++;
        const job = slot.inflight.get(r.ids[i]);
        if (!job) continue;
        slot.inflight.delete(r.ids[i]);
        if (failed) job.reject(new JweFailure(r.bodies[i]));
        else job.resolve(r.bodies[i]);
      }
      // Refill at once: the worker may already be on its last posted batch.
      if (this.#head < this.#queue.length) this.#post(slot);
    });
    const fail = (why: string) => {
      for (const job of slot.inflight.values()) job.reject(new JweFailure(why));
      slot.inflight.clear();
      const i = this.#slots.indexOf(slot);
      if (this.#closed || i < 0) return;
      if (++this.#deaths > MAX_RESPAWNS) {
        this.#slots.splice(i, 1);
        this.onDegraded?.(why);
      } else {
        this.#slots[i] = this.#spawn();
      }
      // Jobs still queued go to the replacement, or to the event loop when no worker is left.
      if (this.#head < this.#queue.length) this.#schedule();
    };
    slot.worker.on('error', (e) => fail(`JWE worker failed: ${e.message}`));
    slot.worker.on('exit', (code) => fail(`JWE worker exited with code ${code}`));
    return slot;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#onImmediate);
  }

  /** Removes the next `n` queued jobs; the queue drops its references to them at once. */
  #take(n: number): Job[] {
    const jobs = this.#queue.slice(this.#head, this.#head + n) as Job[];
    this.#queue.fill(undefined, this.#head, this.#head + jobs.length);
    this.#head += jobs.length;
    if (this.#head === this.#queue.length) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= 64) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return jobs;
  }

  /** Tops up every worker from the queue. */
  #feed(): void {
    for (const s of this.#slots) {
      if (this.#head >= this.#queue.length) return;
      this.#post(s);
    }
  }

  /** Posts queued jobs to `slot` in batches while it has room; plaintexts travel in one transferred buffer. */
  #post(slot: Slot): void {
    while (slot.inflight.size < WORKER_DEPTH && this.#head < this.#queue.length) {
      const jobs = this.#take(Math.min(MAX_BATCH, WORKER_DEPTH - slot.inflight.size));
      const n = jobs.length;
      let total = 0;
      for (const j of jobs) total += j.plaintext.byteLength;
      const batch: JweBatch = {
        ids: new Array(n),
        jwks: new Array(n),
        offsets: new Array(n + 1),
        data: new Uint8Array(total),
      };
      let off = 0;
      for (let i = 0; i < n; i++) {
        const j = jobs[i];
        batch.ids[i] = j.id;
        batch.jwks[i] = jsonOf(j.key);
        batch.offsets[i] = off;
        batch.data.set(j.plaintext, off);
        off += j.plaintext.byteLength;
        slot.inflight.set(j.id, j);
      }
      batch.offsets[n] = off;
      slot.worker.postMessage(batch, [batch.data.buffer as ArrayBuffer]);
      this.stats.workerJobs += n;
      this.stats.batches++;
    }
  }

  /** The serialized JWE body for `key`. `plaintext` must not change until the promise settles. */
  encrypt(key: PreparedTeeKey, plaintext: Uint8Array): Promise<string> {
    if (this.#slots.length === 0 || this.#closed) {
      this.stats.eventLoopJobs++;
      try {
        return Promise.resolve(encryptNow(key, plaintext));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ id: this.#next++, key, plaintext, resolve, reject });
      const idle = this.#slots.find((s) => s.inflight.size === 0);
      if (idle) this.#post(idle);
      if (this.#head < this.#queue.length) this.#schedule();
    });
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const job of this.#take(this.#queue.length)) job.reject(new JweFailure('JWE pool closed'));
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
    this.#slots.length = 0;
  }
}
