/**
 * RCAR session state (kbs-protocol.md §3.2): opaque bytes (the server's JSON) under the session id,
 * valid until `expiresAt`. Kept apart from the key-value `Storage` because sessions need an expiry
 * index (SQL) or key TTLs (Redis): the 60 s sweep must never scan every key.
 */
export interface SessionStore {
  /** Stores or replaces a session. A session whose `expiresAt` is already past is not stored. */
  put(id: string, data: Uint8Array, expiresAt: number /* ms since epoch */): Promise<void>;
  /** The session bytes, or `undefined` when absent or expired (an expired session is deleted on read). */
  get(id: string, now?: number): Promise<Uint8Array | undefined>;
  delete(id: string): Promise<void>;
  /** Removes every session expired at `now` through the expiry index; returns how many it removed. */
  sweep(now?: number): Promise<number>;
  close(): Promise<void>;
}

/** Session ids are server-generated (32 hex characters upstream); we accept a conservative superset. */
const SESSION_ID = /^[A-Za-z0-9_-]{1,128}$/;

export function isValidSessionId(id: string): boolean {
  return typeof id === 'string' && SESSION_ID.test(id);
}
