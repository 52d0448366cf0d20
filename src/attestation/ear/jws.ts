import { createPublicKey, type JsonWebKey, type KeyObject, sign, verify } from 'node:crypto';
import { decodeB64U } from '../../crypto/base64.js';
import { EarError } from './errors.js';

/*
 * Compact JWS for EAR tokens, on node:crypto. Only asymmetric algorithms: an attestation token signed
 * with a shared secret would let every verifier mint tokens.
 */

interface AlgSpec {
  hash: string | null;
  kty: 'EC' | 'RSA' | 'OKP';
  crv?: string;
  pss?: boolean;
}

const ALGS: Record<string, AlgSpec> = {
  ES256: { hash: 'sha256', kty: 'EC', crv: 'P-256' },
  ES384: { hash: 'sha384', kty: 'EC', crv: 'P-384' },
  ES512: { hash: 'sha512', kty: 'EC', crv: 'P-521' },
  RS256: { hash: 'sha256', kty: 'RSA' },
  RS384: { hash: 'sha384', kty: 'RSA' },
  RS512: { hash: 'sha512', kty: 'RSA' },
  PS256: { hash: 'sha256', kty: 'RSA', pss: true },
  PS384: { hash: 'sha384', kty: 'RSA', pss: true },
  PS512: { hash: 'sha512', kty: 'RSA', pss: true },
  EdDSA: { hash: null, kty: 'OKP' },
};

export function isSupportedAlg(alg: unknown): alg is string {
  return typeof alg === 'string' && Object.hasOwn(ALGS, alg);
}

export interface DecodedJws {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  signingInput: Buffer;
  signature: Buffer;
}

function jsonSegment(seg: string, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(decodeB64U(seg, what).toString('utf8'));
  } catch (e) {
    throw new EarError('TOKEN_MALFORMED', `${what} is not base64url JSON`, { cause: e });
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new EarError('TOKEN_MALFORMED', `${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

/** Splits and decodes a compact JWS without verifying it. */
export function decodeJws(token: string): DecodedJws {
  if (typeof token !== 'string' || token.length === 0)
    throw new EarError('TOKEN_MALFORMED', 'token is empty');
  const parts = token.split('.');
  if (parts.length !== 3)
    throw new EarError('TOKEN_MALFORMED', 'token is not a compact JWS (three dot-separated parts)');
  const header = jsonSegment(parts[0], 'token header');
  const payload = jsonSegment(parts[1], 'token claims');
  let signature: Buffer;
  try {
    signature = decodeB64U(parts[2], 'token signature');
  } catch (e) {
    throw new EarError('TOKEN_MALFORMED', 'token signature is not base64url', { cause: e });
  }
  return { header, payload, signingInput: Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii'), signature };
}

/** Checks that `key` fits `alg` (type and curve), so a header cannot pick a weaker interpretation. */
export function checkKeyForAlg(alg: string, key: KeyObject): void {
  const spec = ALGS[alg];
  if (!spec) throw new EarError('UNSUPPORTED_ALGORITHM', `JWS alg ${JSON.stringify(alg)} is not supported`);
  const t = key.asymmetricKeyType;
  const ok =
    spec.kty === 'EC'
      ? t === 'ec' &&
        key.asymmetricKeyDetails?.namedCurve ===
          { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' }[spec.crv!]
      : spec.kty === 'RSA'
        ? t === 'rsa' || (spec.pss === true && t === 'rsa-pss')
        : t === 'ed25519' || t === 'ed448';
  if (!ok) throw new EarError('UNSUPPORTED_ALGORITHM', `the key does not match JWS alg ${alg}`);
}

export function verifyJwsSignature(alg: string, key: KeyObject, d: DecodedJws): boolean {
  checkKeyForAlg(alg, key);
  const spec = ALGS[alg];
  try {
    if (spec.kty === 'EC')
      return verify(spec.hash, d.signingInput, { key, dsaEncoding: 'ieee-p1363' }, d.signature);
    if (spec.pss) {
      return verify(
        spec.hash,
        d.signingInput,
        { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: -1 },
        d.signature,
      );
    }
    return verify(spec.hash, d.signingInput, key, d.signature);
  } catch {
    return false;
  }
}

/** Signs `header` and `payload` (serialized in their insertion order). */
export function signJws(alg: string, key: KeyObject, header: object, payload: object): string {
  const spec = ALGS[alg];
  if (!spec) throw new EarError('UNSUPPORTED_ALGORITHM', `JWS alg ${JSON.stringify(alg)} is not supported`);
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const sig =
    spec.kty === 'EC'
      ? sign(spec.hash, Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
      : sign(spec.hash, Buffer.from(input), key);
  return `${input}.${sig.toString('base64url')}`;
}

/** Imports a public JWK (private members are refused: a token header must never carry them). */
export function publicKeyFromJwk(jwk: unknown): KeyObject {
  if (!jwk || typeof jwk !== 'object' || Array.isArray(jwk))
    throw new EarError('TOKEN_MALFORMED', 'jwk must be an object');
  const j = jwk as Record<string, unknown>;
  if (j.d !== undefined || j.k !== undefined)
    throw new EarError('TOKEN_MALFORMED', 'jwk must be a public key');
  try {
    return createPublicKey({ key: j as JsonWebKey, format: 'jwk' });
  } catch (e) {
    throw new EarError('TOKEN_MALFORMED', 'jwk is not a valid public key', { cause: e });
  }
}
