import { Lru } from '../common/lru.js';
import { decodeB64U, encodeB64U } from './base64.js';
import { CryptoError } from './errors.js';
import { isOnCurve, publicPointFromScalar } from './es256.js';

/*
 * JWK handling for sealed-secret signing keys (sealed-secret.md §3.4 step 8, §3.5, §9.3).
 * Upstream parses with `jose-jwk`, which rejects some members by type before looking at the key;
 * we keep those rejections so that a key upstream refuses is refused here too.
 */

export const JWS_ALGS = new Set([
  'EdDSA',
  'ES256',
  'ES256K',
  'ES384',
  'ES512',
  'HS256',
  'HS384',
  'HS512',
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
  'none',
]);
const KEY_OPS = new Set([
  'sign',
  'verify',
  'encrypt',
  'decrypt',
  'wrapKey',
  'unwrapKey',
  'deriveKey',
  'deriveBits',
]);
const KTYS = new Set(['EC', 'RSA', 'oct', 'OKP']);
const EC_CURVES = new Set(['P-256', 'P-384', 'P-521', 'secp256k1']);

export interface P256PublicKey {
  /** Uncompressed SEC1 point 0x04‖x‖y. */
  point: Uint8Array;
}

export interface P256PrivateKey extends P256PublicKey {
  d: Uint8Array;
}

function parseJson(text: string | Uint8Array): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(typeof text === 'string' ? text : Buffer.from(text).toString('utf8'));
  } catch {
    throw new CryptoError('JSON_INVALID', 'JWK is not valid JSON');
  }
  if (!v || typeof v !== 'object' || Array.isArray(v))
    throw new CryptoError('JSON_INVALID', 'JWK must be a JSON object');
  return v as Record<string, unknown>;
}

function checkCommonMembers(jwk: Record<string, unknown>): void {
  if (typeof jwk.kty !== 'string' || !KTYS.has(jwk.kty))
    throw new CryptoError('JSON_INVALID', 'JWK: unknown or missing "kty"');
  if (jwk.kty === 'EC' && (typeof jwk.crv !== 'string' || !EC_CURVES.has(jwk.crv))) {
    throw new CryptoError('JSON_INVALID', 'JWK: unknown EC curve');
  }
  if (jwk.alg !== undefined && (typeof jwk.alg !== 'string' || !JWS_ALGS.has(jwk.alg))) {
    throw new CryptoError('JSON_INVALID', 'JWK: "alg" is not a JWS signing algorithm');
  }
  if (jwk.use !== undefined && jwk.use !== 'sig' && jwk.use !== 'enc')
    throw new CryptoError('JSON_INVALID', 'JWK: "use" must be "sig" or "enc"');
  if (jwk.key_ops !== undefined) {
    if (!Array.isArray(jwk.key_ops) || !jwk.key_ops.every((o) => typeof o === 'string' && KEY_OPS.has(o))) {
      throw new CryptoError('JSON_INVALID', 'JWK: "key_ops" has an unknown operation');
    }
  }
}

function coordinate(jwk: Record<string, unknown>, name: 'x' | 'y' | 'd'): Uint8Array {
  const v = jwk[name];
  if (typeof v !== 'string') throw new CryptoError('KEY_INVALID', `JWK: missing "${name}"`);
  let b: Uint8Array;
  try {
    b = decodeB64U(v, `JWK "${name}"`);
  } catch (e) {
    throw new CryptoError('JSON_INVALID', `JWK: "${name}" is not base64url`, { cause: e });
  }
  if (b.length !== 32) throw new CryptoError('KEY_INVALID', `JWK: "${name}" must be 32 bytes for P-256`);
  return b;
}

// Verification keys are few and reused for every unseal; remember parsed ones by their exact text.
const publicKeyCache = new Lru<P256PublicKey>(64);

/** A P-256 verification key from JWK bytes (a private JWK is accepted; only x/y are used). */
export function parseP256PublicJwk(text: string | Uint8Array): P256PublicKey {
  const cacheKey = typeof text === 'string' ? text : Buffer.from(text).toString('latin1');
  return publicKeyCache.getOrCompute(cacheKey, () => parsePublicUncached(text));
}

function parsePublicUncached(text: string | Uint8Array): P256PublicKey {
  const jwk = parseJson(text);
  checkCommonMembers(jwk);
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256') throw new CryptoError('KEY_INVALID', 'Key must be P256');
  if (jwk.d !== undefined) coordinate(jwk, 'd');
  const x = coordinate(jwk, 'x');
  const y = coordinate(jwk, 'y');
  if (!isOnCurve(x, y))
    throw new CryptoError('KEY_INVALID', 'Could not parse verification key: point is not on P-256');
  return { point: Buffer.concat([Buffer.from([4]), x, y]) };
}

/** A P-256 signing key. Like upstream, only `d` is used; the file's x/y must parse but are not checked against d. */
export function parseP256PrivateJwk(text: string | Uint8Array): P256PrivateKey {
  const jwk = parseJson(text);
  checkCommonMembers(jwk);
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || jwk.d === undefined) {
    throw new CryptoError('KEY_INVALID', 'Key must be EC P256 private key');
  }
  for (const m of ['x', 'y'] as const) if (typeof jwk[m] === 'string') coordinate(jwk, m);
  const d = coordinate(jwk, 'd');
  return { d, point: publicPointFromScalar(d) };
}

/** JWK objects for `secret keygen`, members in the upstream order. */
export function p256Jwks(
  d: Uint8Array,
  kid: string,
): { privateJwk: Record<string, string>; publicJwk: Record<string, string> } {
  const point = publicPointFromScalar(d);
  const publicJwk = {
    kty: 'EC',
    crv: 'P-256',
    alg: 'ES256',
    use: 'sig',
    kid,
    x: encodeB64U(point.subarray(1, 33)),
    y: encodeB64U(point.subarray(33, 65)),
  };
  const { x, y, ...head } = publicJwk;
  return { privateJwk: { ...head, d: encodeB64U(d), x, y }, publicJwk };
}
