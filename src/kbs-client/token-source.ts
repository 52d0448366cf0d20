import type { KeyObject } from 'node:crypto';
import type { CookieJar } from './cookie-jar.js';
import { KbsClientError } from './errors.js';
import { TeeKeyPair } from './tee-key.js';
import { AttestationToken } from './token.js';

/*
 * Where resource GETs get their credentials. Upstream attests on every unseal (cdh.md §7.4, §9 #1);
 * we keep one (token, TEE key) grant until shortly before `exp` or until the KBS answers 401, and
 * let concurrent fetches share one in-flight attestation.
 */

export interface TokenGrant {
  token: AttestationToken;
  /** Private TEE key that decrypts responses for this token. */
  teeKey: KeyObject;
  /** The RCAR session cookies, for background-check GETs. */
  cookies?: CookieJar;
  /** Epoch ms after which the grant must not be used; undefined means "until the KBS rejects it". */
  validUntil?: number;
}

export interface AcquiredGrant {
  grant: TokenGrant;
  /** The grant was obtained for this call (or an in-flight attestation it joined), not reused. */
  fresh: boolean;
}

export interface TokenSource {
  acquire(): Promise<AcquiredGrant>;
  /** The KBS rejected `grant`: forget it. Returns false when no other grant can be obtained. */
  invalidate(grant: TokenGrant): boolean;
}

export interface CachingTokenSourceOptions {
  /** Renew this long before `validUntil` (capped at a quarter of the grant's lifetime); default 10 s. */
  refreshMarginMs?: number;
  now?: () => number;
}

/** Caches the grant `obtain` produces; single-flight; renews near expiry or after a rejection. */
export class CachingTokenSource implements TokenSource {
  private cached: { grant: TokenGrant; obtainedAt: number } | undefined;
  private inflight: Promise<TokenGrant> | undefined;
  private readonly marginMs: number;
  private readonly now: () => number;

  constructor(
    private readonly obtain: () => Promise<TokenGrant>,
    options: CachingTokenSourceOptions = {},
  ) {
    this.marginMs = options.refreshMarginMs ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  private usable(c: { grant: TokenGrant; obtainedAt: number }): boolean {
    const until = c.grant.validUntil;
    if (until === undefined) return true;
    const margin = Math.min(this.marginMs, Math.max(0, until - c.obtainedAt) / 4);
    return this.now() < until - margin;
  }

  async acquire(): Promise<AcquiredGrant> {
    if (this.cached && this.usable(this.cached)) return { grant: this.cached.grant, fresh: false };
    this.cached = undefined;
    return { grant: await this.refresh(), fresh: true };
  }

  /** Obtains a new grant now (joining one already in flight). */
  refresh(): Promise<TokenGrant> {
    if (!this.inflight) {
      const started = this.now();
      this.inflight = this.obtain()
        .then((grant) => {
          this.cached = { grant, obtainedAt: started };
          return grant;
        })
        .finally(() => {
          this.inflight = undefined;
        });
    }
    return this.inflight;
  }

  invalidate(grant: TokenGrant): boolean {
    if (this.cached?.grant === grant) this.cached = undefined;
    return true;
  }
}

/** A fixed token and key (kbs-client `get-resource --attestation-token`); cannot renew. */
export class StaticTokenSource implements TokenSource {
  constructor(private readonly grant: TokenGrant) {}

  async acquire(): Promise<AcquiredGrant> {
    return { grant: this.grant, fresh: false };
  }

  invalidate(): boolean {
    return false;
  }
}

/**
 * A grant from the AA's `GetToken("kbs")` answer: JSON `{"token":"<JWT>","tee_keypair":"<PEM>"}`
 * (cdh.md §7.2). For a TokenSource backed by the Attestation Agent.
 */
export function grantFromAaToken(bytes: Uint8Array | string): TokenGrant {
  let v: unknown;
  try {
    v = JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (e) {
    throw new KbsClientError('TOKEN_INVALID', 'AA token response is not JSON', { cause: e });
  }
  const o = v as Record<string, unknown> | null;
  if (!o || typeof o !== 'object' || typeof o.token !== 'string' || typeof o.tee_keypair !== 'string') {
    throw new KbsClientError(
      'TOKEN_INVALID',
      'AA token response needs string members "token" and "tee_keypair"',
    );
  }
  const token = new AttestationToken(o.token);
  return { token, teeKey: TeeKeyPair.fromPem(o.tee_keypair).privateKey, validUntil: token.expiresAt };
}
