import { createECDH, createPublicKey, ECDH, verify as nodeVerify } from 'node:crypto';
import { Lru } from '../common/lru.js';
import { CryptoError } from './errors.js';

/*
 * ES256 verification and P-256 point helpers, all on OpenSSL (node:crypto). Verification accepts
 * high-S signatures, as upstream does. Signing (RFC 6979, @noble/curves) lives in es256-sign.ts so
 * that code which only verifies (the in-guest CDH) never loads the curve library: ~4 MB of resident
 * memory in a daemon whose budget is 60 MB (issue 4).
 */

const N = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');

/** Uncompressed SEC1 public point for a private scalar (which must lie in [1, n-1]). */
export function publicPointFromScalar(privateScalar: Uint8Array): Uint8Array {
  try {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(privateScalar);
    return ecdh.getPublicKey();
  } catch (e) {
    throw new CryptoError('KEY_INVALID', 'ES256 signing key is not a valid P-256 scalar', { cause: e });
  }
}

function toBigInt(b: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(b).toString('hex') || '0'}`);
}

/**
 * Verifies a raw r‖s ES256 signature against an uncompressed public point (0x04‖x‖y).
 * High-S is accepted; r and s must lie in [1, n-1].
 */
export function verifyEs256(publicPoint: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false;
  const r = toBigInt(signature.subarray(0, 32));
  const s = toBigInt(signature.subarray(32));
  if (r < 1n || r >= N || s < 1n || s >= N) return false;
  const key = publicKeyObject(publicPoint);
  // OpenSSL's ECDSA verify accepts either half of s (no malleability check), as upstream does.
  return nodeVerify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature);
}

const keyCache = new Lru<ReturnType<typeof createPublicKey>>(256);

function publicKeyObject(point: Uint8Array): ReturnType<typeof createPublicKey> {
  const id = Buffer.from(point).toString('base64');
  let key = keyCache.get(id);
  if (!key) {
    key = createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: Buffer.from(point.subarray(1, 33)).toString('base64url'),
        y: Buffer.from(point.subarray(33, 65)).toString('base64url'),
      },
      format: 'jwk',
    });
    keyCache.set(id, key);
  }
  return key;
}

/** True when (x, y) is a point on P-256 (32-byte big-endian coordinates, each below the field prime). */
export function isOnCurve(x: Uint8Array, y: Uint8Array): boolean {
  if (x.length !== 32 || y.length !== 32) return false;
  try {
    // OpenSSL's point decoding rejects coordinates >= p and points off the curve.
    ECDH.convertKey(Buffer.concat([Buffer.from([4]), x, y]), 'prime256v1');
    return true;
  } catch {
    return false;
  }
}
