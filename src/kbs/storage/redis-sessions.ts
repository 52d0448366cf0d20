import { Redis } from 'ioredis';
import { StorageError } from './errors.js';
import { checkSession } from './memory.js';
import { isValidSessionId, type SessionStore } from './session-store.js';

/*
 * Sessions in Redis (upstream `session_storage_type = "Redis"`). Expiry is a key TTL (SET … PX), so
 * Redis itself drops expired sessions and `sweep` has nothing to do. The value carries the expiry as
 * an 8-byte big-endian prefix so that `get(id, now)` agrees with the SQL stores even when the KBS
 * and Redis clocks differ slightly.
 */

function unavailable(what: string, e: unknown): StorageError {
  const code = String((e as { code?: string })?.code ?? (e as Error)?.name ?? 'unknown');
  return new StorageError(
    'STORAGE_UNAVAILABLE',
    `Redis session ${what} failed (${code}): is Redis reachable?`,
    {
      cause: e,
    },
  );
}

export class RedisSessionStore implements SessionStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  #closed = false;

  private constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#prefix = prefix;
  }

  /** Connects now, so a wrong URL fails at startup rather than on the first attestation. */
  static async connect(url: string, keyPrefix: string): Promise<RedisSessionStore> {
    const redis = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 2,
      connectTimeout: 10_000,
      enableOfflineQueue: true,
    });
    // Connection errors surface on the failing command; without a listener ioredis logs them.
    redis.on('error', () => {});
    try {
      await redis.connect();
    } catch (e) {
      redis.disconnect();
      throw unavailable('connect', e);
    }
    return new RedisSessionStore(redis, keyPrefix);
  }

  async put(id: string, data: Uint8Array, expiresAt: number): Promise<void> {
    checkSession(id, expiresAt);
    this.#open();
    const ttl = expiresAt - Date.now();
    try {
      if (ttl <= 0) {
        await this.#redis.del(this.#prefix + id);
        return;
      }
      const value = Buffer.allocUnsafe(8 + data.byteLength);
      value.writeBigUInt64BE(BigInt(expiresAt), 0);
      value.set(data, 8);
      await this.#redis.set(this.#prefix + id, value, 'PX', ttl);
    } catch (e) {
      throw unavailable('write', e);
    }
  }

  async get(id: string, now = Date.now()): Promise<Uint8Array | undefined> {
    if (!isValidSessionId(id)) return undefined;
    this.#open();
    let v: Buffer | null;
    try {
      v = await this.#redis.getBuffer(this.#prefix + id);
    } catch (e) {
      throw unavailable('read', e);
    }
    if (!v || v.byteLength < 8) return undefined;
    if (Number(v.readBigUInt64BE(0)) <= now) {
      await this.delete(id);
      return undefined;
    }
    return new Uint8Array(v.buffer, v.byteOffset + 8, v.byteLength - 8);
  }

  async delete(id: string): Promise<void> {
    if (!isValidSessionId(id)) return;
    this.#open();
    try {
      await this.#redis.del(this.#prefix + id);
    } catch (e) {
      throw unavailable('delete', e);
    }
  }

  /** Redis expires keys by TTL; nothing to scan. */
  async sweep(): Promise<number> {
    this.#open();
    return 0;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#redis.quit().catch(() => this.#redis.disconnect());
  }

  #open(): void {
    if (this.#closed) throw new StorageError('STORAGE_UNAVAILABLE', 'Redis session store is closed');
  }
}
