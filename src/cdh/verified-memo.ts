import { Lru } from '../common/lru.js';
import type { SecretPayload } from '../sealed/payload.js';
import {
  parseSealedSecret,
  type VerificationKeyResolver,
  verifyParsed,
  verifySealedSecret,
} from '../sealed/sealed-secret.js';

interface Verified {
  kid: string;
  /** The verification key (JWK bytes) the signature was checked with. */
  key: Uint8Array;
  payload: SecretPayload;
}

function deepFreeze<T>(v: T): T {
  if (v && typeof v === 'object') {
    for (const x of Object.values(v)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a === b || Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/**
 * Sealed strings whose signature has verified, keyed by their exact text. A pod's secrets are
 * unsealed again and again (every container start, every `cdh watch` pass), and checking the same
 * ES256 signature and re-parsing the same JWS each time was about a third of a warm unseal's CPU in
 * the daemon. A hit still resolves the kid (a cached lookup, bounded by the kid cache's TTL) and is
 * used only while the kid still names the very key the string verified under; a rotated key means a
 * full verification again. Holds signed, public data only (never a plaintext) and only successes,
 * within a bound on entries and on their size.
 */
export class VerifiedSecretMemo {
  private readonly lru: Lru<Verified>;

  /**
   * At most `maxEntries` strings of at most `maxTextLength` characters each: a few hundred KiB in
   * all (one CDH serves one pod sandbox, whose sealed secrets are typically a few KiB each). Longer
   * strings are verified every time rather than held in memory.
   */
  constructor(
    maxEntries = 64,
    private readonly maxTextLength = 16 * 1024,
  ) {
    this.lru = new Lru(maxEntries);
  }

  async open(text: string, keys: VerificationKeyResolver): Promise<SecretPayload> {
    if (text.length > this.maxTextLength) return verifySealedSecret(text, keys);
    const hit = this.lru.get(text);
    if (hit) {
      const key = await keys.resolve(hit.kid);
      if (sameBytes(key, hit.key)) return hit.payload;
      this.lru.delete(text);
    }
    const parsed = parseSealedSecret(text);
    // Upstream resolves the key before looking at `alg` (sealed-secret.md §3.4 step 6); keep that order.
    const key = await keys.resolve(parsed.kid);
    const payload = deepFreeze(verifyParsed(parsed, key));
    this.lru.set(text, { kid: parsed.kid, key, payload });
    return payload;
  }

  get size(): number {
    return this.lru.size;
  }
}
