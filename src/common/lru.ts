/**
 * A bounded least-recently-used map. Used for caches of parsed or verified artefacts (certificates,
 * collateral, keys): the bound keeps attacker-chosen inputs from growing memory without limit.
 * Callers store only successful results, so a hit can never turn a bad input into a good one.
 */
export class Lru<V> {
  private readonly map = new Map<string, V>();

  constructor(private readonly max = 256) {}

  get(key: string): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      // Map keeps insertion order: re-insert to mark as most recently used.
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  /** A cache built with `max <= 0` stores nothing (caching disabled by configuration). */
  set(key: string, value: V): void {
    if (this.max <= 0) return;
    this.map.delete(key);
    this.map.set(key, value);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  /** The cached value for `key`, or computes, stores and returns it (a throwing compute stores nothing). */
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
