/*
 * The background-check flow needs a cookie jar (kbs-protocol.md §3.2, §12): the KBS sets
 * `kbs-session-id=<uuid>; Expires=<date>` on `/auth` and expects it back on `/attest` and on resource
 * GETs. One jar serves one KBS origin, so Domain and Path are not tracked.
 */

interface Cookie {
  value: string;
  /** Epoch ms; undefined for a session cookie. */
  expiresAt: number | undefined;
}

export const SESSION_COOKIE = 'kbs-session-id';

export class CookieJar {
  private readonly cookies = new Map<string, Cookie>();

  /** Stores every `Set-Cookie` header of a response. Malformed ones are ignored, as browsers do. */
  store(setCookieHeaders: readonly string[], now = Date.now()): void {
    for (const h of setCookieHeaders) {
      const [pair, ...attrs] = h.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name) || /[\s;,"\\]/.test(value)) continue;
      let expiresAt: number | undefined;
      let maxAge: number | undefined;
      for (const a of attrs) {
        const i = a.indexOf('=');
        const k = (i < 0 ? a : a.slice(0, i)).trim().toLowerCase();
        const v = i < 0 ? '' : a.slice(i + 1).trim();
        if (k === 'expires') {
          const t = Date.parse(v);
          if (!Number.isNaN(t)) expiresAt = t;
        } else if (k === 'max-age' && /^-?\d+$/.test(v)) {
          maxAge = Number(v);
        }
      }
      // Max-Age wins over Expires (RFC 6265 §5.3 step 3).
      if (maxAge !== undefined) expiresAt = now + maxAge * 1000;
      if (expiresAt !== undefined && expiresAt <= now) this.cookies.delete(name);
      else this.cookies.set(name, { value, expiresAt });
    }
  }

  /** The `Cookie` request header, or undefined when no unexpired cookie is held. */
  header(now = Date.now()): string | undefined {
    const parts: string[] = [];
    for (const [name, c] of this.cookies) {
      if (c.expiresAt !== undefined && c.expiresAt <= now) this.cookies.delete(name);
      else parts.push(`${name}=${c.value}`);
    }
    return parts.length ? parts.join('; ') : undefined;
  }

  /** Expiry (epoch ms) of a cookie, undefined if absent or a session cookie. */
  expiresAt(name: string): number | undefined {
    return this.cookies.get(name)?.expiresAt;
  }

  has(name: string, now = Date.now()): boolean {
    const c = this.cookies.get(name);
    return c !== undefined && (c.expiresAt === undefined || c.expiresAt > now);
  }

  clear(): void {
    this.cookies.clear();
  }
}
