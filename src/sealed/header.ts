import { decodeB64U, decodeStd } from '../crypto/base64.js';
import { JWS_ALGS } from '../crypto/jwk.js';
import { SealedSecretError } from './errors.js';

/*
 * The JWS protected header. The sealer writes exactly `{"b64":true,"alg":"ES256","kid":"…"}`
 * (a quirk of upstream's JOSE library puts `b64` first, §3.2); the verifier accepts any member order,
 * ignores unknown members, and rejects the registered members upstream's library types strictly.
 */

export interface ProtectedHeader {
  alg?: string;
  kid?: string;
  [member: string]: unknown;
}

export function buildHeader(kid: string): string {
  return `{"b64":true,"alg":"ES256","kid":${JSON.stringify(kid)}}`;
}

const jwsError = (why: string) =>
  new SealedSecretError('BAD_FORMAT', `parse SealedSecret failed: Failed to parse JWS (${why})`);

function isB64U(v: unknown, len?: number): boolean {
  if (typeof v !== 'string') return false;
  try {
    const b = decodeB64U(v);
    return len === undefined || b.length === len;
  } catch {
    return false;
  }
}

export function parseHeader(bytes: Uint8Array): ProtectedHeader {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw jwsError('header is not JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw jwsError('header must be a JSON object');
  const h = v as ProtectedHeader;
  if (h.alg !== undefined && (typeof h.alg !== 'string' || !JWS_ALGS.has(h.alg)))
    throw jwsError('unknown "alg"');
  if (h.b64 !== undefined && typeof h.b64 !== 'boolean') throw jwsError('"b64" must be a boolean');
  for (const m of ['kid', 'typ', 'cty'] as const) {
    if (h[m] !== undefined && typeof h[m] !== 'string') throw jwsError(`"${m}" must be a string`);
  }
  if (h.crit !== undefined && !(Array.isArray(h.crit) && h.crit.every((c) => typeof c === 'string'))) {
    throw jwsError('"crit" must be an array of strings');
  }
  if (h.nonce !== undefined && !isB64U(h.nonce)) throw jwsError('"nonce" must be base64url');
  if (
    h.jwk !== undefined &&
    (!h.jwk || typeof h.jwk !== 'object' || typeof (h.jwk as { kty?: unknown }).kty !== 'string')
  ) {
    throw jwsError('"jwk" must be a JWK');
  }
  if (h.x5c !== undefined) {
    const ok =
      Array.isArray(h.x5c) &&
      h.x5c.every((c) => {
        try {
          return typeof c === 'string' && decodeStd(c) !== undefined;
        } catch {
          return false;
        }
      });
    if (!ok) throw jwsError('"x5c" must be an array of base64 certificates');
  }
  if (h.x5t !== undefined && !isB64U(h.x5t, 20)) throw jwsError('"x5t" must be a base64url SHA-1 thumbprint');
  if (h['x5t#S256'] !== undefined && !isB64U(h['x5t#S256'], 32))
    throw jwsError('"x5t#S256" must be a base64url SHA-256 thumbprint');
  return h;
}
