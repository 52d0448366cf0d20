import { createPrivateKey, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { KbsClientError } from './errors.js';

/*
 * Admin bearer tokens for `[admin] authorization_mode = "AuthenticatedAuthorization"`
 * (kbs-protocol.md §7.2): a JWT with a string `role`, `exp` (required by the KBS) and `iat`; `iss`
 * and `aud` when the identity provider is configured with them. Ed25519 (EdDSA) as upstream's test
 * tokens; P-256 (ES256) and RSA (RS256) keys work too.
 */

export interface MintAdminTokenOptions {
  privateKeyPem: string | Uint8Array;
  role: string;
  ttlSeconds: number;
  issuer?: string;
  audience?: string | string[];
  subject?: string;
  /** For tests: the issue time (epoch seconds). */
  now?: number;
}

function algorithmFor(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case 'ed25519':
      return 'EdDSA';
    case 'ec':
      if (key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
      break;
    case 'rsa':
      if ((key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048) return 'RS256';
      break;
  }
  throw new KbsClientError(
    'INVALID_ARGUMENT',
    'admin signing key must be Ed25519, EC P-256 or RSA (2048 bits or more)',
  );
}

export async function mintAdminToken(options: MintAdminTokenOptions): Promise<string> {
  if (!options.role || /[\u0000-\u001f]/.test(options.role)) {
    throw new KbsClientError('INVALID_ARGUMENT', 'admin token role must be a non-empty single-line string');
  }
  if (!Number.isSafeInteger(options.ttlSeconds) || options.ttlSeconds <= 0) {
    throw new KbsClientError(
      'INVALID_ARGUMENT',
      'admin token TTL must be a positive whole number of seconds',
    );
  }
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: Buffer.from(options.privateKeyPem), format: 'pem' });
  } catch (e) {
    throw new KbsClientError('INVALID_ARGUMENT', 'admin signing key is not a PEM private key', { cause: e });
  }
  const alg = algorithmFor(key);
  const iat = options.now ?? Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ role: options.role })
    .setProtectedHeader({ alg, typ: 'JWT' })
    .setIssuedAt(iat)
    .setExpirationTime(iat + options.ttlSeconds);
  if (options.issuer !== undefined) jwt.setIssuer(options.issuer);
  if (options.audience !== undefined) jwt.setAudience(options.audience);
  if (options.subject !== undefined) jwt.setSubject(options.subject);
  return jwt.sign(key);
}

/** Parses a TTL: seconds (`3600`) or a number with a unit `s`, `m`, `h`, `d` (`15m`, `12h`, `30d`). */
export function parseTtl(text: string): number {
  const m = /^(\d+)\s*([smhd]?)$/.exec(text.trim());
  if (!m)
    throw new KbsClientError(
      'INVALID_ARGUMENT',
      `invalid TTL ${JSON.stringify(text)}: use e.g. 3600, 90s, 15m, 12h or 30d`,
    );
  const n = Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86_400 } as Record<string, number>)[m[2]];
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new KbsClientError('INVALID_ARGUMENT', `invalid TTL ${JSON.stringify(text)}`);
  return n;
}
