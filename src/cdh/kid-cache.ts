import type { VerificationKeyResolver } from '../sealed/sealed-secret.js';

/**
 * Remembers verification keys by kid for a bounded time (cdh.md §9 #1): a kid that is a KBS URI
 * otherwise costs a KBS round trip per unseal. Public keys only; failures are not cached, and
 * concurrent lookups of one kid share a single fetch.
 */
export class CachingKeyResolver implements VerificationKeyResolver {
  private readonly entries = new Map<string, { expires: number; value: Promise<Uint8Array> }>();

  constructor(
    private readonly inner: VerificationKeyResolver,
    private readonly ttlMs: number,
    private readonly maxEntries = 128,
    private readonly now: () => number = Date.now,
  ) {}

  resolve(kid: string): Promise<Uint8Array> {
    const t = this.now();
    const hit = this.entries.get(kid);
    if (hit && hit.expires > t) return hit.value;
    const value = this.inner.resolve(kid);
    if (this.ttlMs > 0) {
      if (this.entries.size >= this.maxEntries)
        this.entries.delete(this.entries.keys().next().value as string);
      this.entries.set(kid, { expires: t + this.ttlMs, value });
      value.catch(() => this.entries.delete(kid));
    }
    return value;
  }

  clear(): void {
    this.entries.clear();
  }
}
