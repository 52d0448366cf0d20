import { StorageError } from './errors.js';
import { checkKey, checkNamespace, checkPrefix, checkValue } from './keys.js';
import { isValidSessionId, type SessionStore } from './session-store.js';
import type { Storage } from './storage.js';

/** Non-persistent storage (upstream `Memory`, the default). Values are copied in and out. */
export class MemoryStorage implements Storage {
  readonly #data = new Map<string, Map<string, Uint8Array>>();
  #closed = false;

  async set(
    namespace: string,
    key: string,
    value: Uint8Array,
    opts?: { overwrite?: boolean },
  ): Promise<void> {
    this.#open();
    checkNamespace(namespace);
    checkKey(key);
    checkValue(value);
    let ns = this.#data.get(namespace);
    if (!ns) {
      ns = new Map();
      this.#data.set(namespace, ns);
    }
    if (opts?.overwrite === false && ns.has(key)) {
      throw new StorageError('ALREADY_EXISTS', `${namespace}/${key} already exists`);
    }
    ns.set(key, Uint8Array.from(value));
  }

  async get(namespace: string, key: string): Promise<Uint8Array | undefined> {
    this.#open();
    checkNamespace(namespace);
    checkKey(key);
    const v = this.#data.get(namespace)?.get(key);
    return v === undefined ? undefined : Uint8Array.from(v);
  }

  async delete(namespace: string, key: string): Promise<boolean> {
    this.#open();
    checkNamespace(namespace);
    checkKey(key);
    return this.#data.get(namespace)?.delete(key) ?? false;
  }

  async list(namespace: string, prefix = ''): Promise<string[]> {
    this.#open();
    checkNamespace(namespace);
    checkPrefix(prefix);
    const ns = this.#data.get(namespace);
    if (!ns) return [];
    // Keys are ASCII, so UTF-16 order equals the byte order the SQL backends use.
    return [...ns.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #open(): void {
    if (this.#closed) throw new StorageError('STORAGE_UNAVAILABLE', 'memory storage is closed');
  }
}

/**
 * Sessions in memory with a min-heap on expiry, so `sweep` pops only expired entries. Heap entries
 * are lazily invalidated: a replaced or deleted session leaves a stale entry that is skipped.
 */
export class MemorySessionStore implements SessionStore {
  readonly #sessions = new Map<string, { data: Uint8Array; expiresAt: number }>();
  readonly #heap: { expiresAt: number; id: string }[] = [];

  async put(id: string, data: Uint8Array, expiresAt: number): Promise<void> {
    checkSession(id, expiresAt);
    if (expiresAt <= Date.now()) {
      this.#sessions.delete(id);
      return;
    }
    this.#sessions.set(id, { data: Uint8Array.from(data), expiresAt });
    this.#push({ expiresAt, id });
  }

  async get(id: string, now = Date.now()): Promise<Uint8Array | undefined> {
    if (!isValidSessionId(id)) return undefined;
    const s = this.#sessions.get(id);
    if (!s) return undefined;
    if (s.expiresAt <= now) {
      this.#sessions.delete(id);
      return undefined;
    }
    return Uint8Array.from(s.data);
  }

  async delete(id: string): Promise<void> {
    this.#sessions.delete(id);
  }

  async sweep(now = Date.now()): Promise<number> {
    let removed = 0;
    while (this.#heap.length > 0 && this.#heap[0].expiresAt <= now) {
      const top = this.#pop();
      const s = this.#sessions.get(top.id);
      if (s && s.expiresAt === top.expiresAt) {
        this.#sessions.delete(top.id);
        removed++;
      }
    }
    return removed;
  }

  async close(): Promise<void> {
    this.#sessions.clear();
    this.#heap.length = 0;
  }

  /** Number of live entries (tests). */
  get size(): number {
    return this.#sessions.size;
  }

  #push(e: { expiresAt: number; id: string }): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p].expiresAt <= h[i].expiresAt) break;
      [h[p], h[i]] = [h[i], h[p]];
      i = p;
    }
  }

  #pop(): { expiresAt: number; id: string } {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l].expiresAt < h[m].expiresAt) m = l;
        if (r < h.length && h[r].expiresAt < h[m].expiresAt) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i], h[m]];
        i = m;
      }
    }
    return top;
  }
}

export function checkSession(id: string, expiresAt: number): void {
  if (!isValidSessionId(id)) {
    throw new StorageError('INVALID_KEY', 'session id must be 1..128 characters of [A-Za-z0-9_-]');
  }
  if (!Number.isSafeInteger(expiresAt)) {
    throw new StorageError('INVALID_KEY', 'session expiry must be an integer number of milliseconds');
  }
}
