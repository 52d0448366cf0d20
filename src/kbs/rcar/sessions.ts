import { randomBytes, randomUUID } from 'node:crypto';
import type { SessionStore } from '../storage/session-store.js';

/*
 * RCAR sessions (kbs-protocol.md §3.2): id = UUIDv4 in simple form, state JSON
 * `{"Authed":{request,challenge,id,timeout}}` then `{"Attested":{token,id,timeout}}`, expiry fixed at
 * `/auth` time (not extended by `/attest`). Expired sessions are dropped on read and by a sweep.
 */

export interface Challenge {
  nonce: string;
  'extra-params': unknown;
}

export type SessionState =
  | { Authed: { request: unknown; challenge: Challenge; id: string; timeout: string } }
  | { Attested: { token: string; id: string; timeout: string } };

export interface Session {
  id: string;
  expiresAt: number;
  state: SessionState;
}

export const COOKIE_NAME = 'kbs-session-id';
const SESSION_ID = /^[0-9a-f]{32}$/;

export function newNonce(): string {
  return randomBytes(32).toString('base64');
}

/** `Expires` attribute value (IMF-fixdate). */
export function setCookie(id: string, expiresAt: number): string {
  return `${COOKIE_NAME}=${id}; Expires=${new Date(expiresAt).toUTCString()}`;
}

/** The `kbs-session-id` value from a Cookie header, when it has the server's id shape. */
export function sessionIdFromCookie(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== COOKIE_NAME) continue;
    const v = part.slice(eq + 1).trim();
    return SESSION_ID.test(v) ? v : undefined;
  }
  return undefined;
}

export class Sessions {
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: SessionStore,
    private readonly timeoutMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  startSweeper(intervalMs = 60_000, onError?: (e: unknown) => void): void {
    this.#timer = setInterval(() => {
      this.store.sweep(this.clock()).catch((e) => onError?.(e));
    }, intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async create(request: unknown, challenge: Challenge, now = this.clock()): Promise<Session> {
    const id = randomUUID().replaceAll('-', '');
    const expiresAt = now + this.timeoutMs;
    const state: SessionState = {
      Authed: { request, challenge, id, timeout: new Date(expiresAt).toISOString() },
    };
    await this.store.put(id, Buffer.from(JSON.stringify(state)), expiresAt);
    return { id, expiresAt, state };
  }

  async get(id: string, now = this.clock()): Promise<Session | undefined> {
    const b = await this.store.get(id, now);
    if (!b) return undefined;
    let state: SessionState;
    try {
      state = JSON.parse(Buffer.from(b).toString('utf8'));
    } catch {
      await this.store.delete(id);
      return undefined;
    }
    const timeout = 'Authed' in state ? state.Authed.timeout : state.Attested?.timeout;
    const expiresAt = Date.parse(timeout ?? '');
    if (!Number.isFinite(expiresAt) || expiresAt <= now) {
      await this.store.delete(id);
      return undefined;
    }
    return { id, expiresAt, state };
  }

  async markAttested(s: Session, token: string): Promise<void> {
    const state: SessionState = {
      Attested: { token, id: s.id, timeout: new Date(s.expiresAt).toISOString() },
    };
    await this.store.put(s.id, Buffer.from(JSON.stringify(state)), s.expiresAt);
  }
}
