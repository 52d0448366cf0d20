import { createHash } from 'node:crypto';

/*
 * Bounded memo for parsed and signature-checked artefacts (certificate chains, CRLs, collateral),
 * keyed by a SHA-256 digest of their exact bytes. Only successful results are stored, so a cache hit
 * can never turn a bad input into a good one; the bound keeps attacker-chosen inputs from growing
 * memory without limit.
 */
export class DigestCache<V> {
  private readonly map = new Map<string, V>();

  constructor(private readonly max = 256) {}

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      // Refresh recency: Map keeps insertion order, so re-insert.
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: string, value: V): void {
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.max) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
    }
  }

  /** Returns the cached value for `key`, or computes, stores and returns it (errors are not stored). */
  getOrCompute(key: string, compute: () => V): V {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    const v = compute();
    this.set(key, v);
    return v;
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}

/** SHA-256 over the parts, each length-prefixed so that different splits never collide. */
export function digestOf(...parts: (Uint8Array | string | undefined)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    const b = p === undefined ? Buffer.alloc(0) : typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
    const len = Buffer.alloc(5);
    len.writeUInt32BE(b.length, 1);
    len[0] = p === undefined ? 0 : 1;
    h.update(len).update(b);
  }
  return h.digest('hex');
}
