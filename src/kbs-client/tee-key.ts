import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { parseTeePublicJwk, type TeePublicJwk } from '../crypto/jwe.js';
import { KbsClientError } from './errors.js';

/*
 * The TEE key pair: the KBS encrypts resources to its public half (kbs-protocol.md §3.3, §6.4, §12).
 * Upstream default EC P-256 with ECDH-ES+A256KW; options P-521 and RSA-2048 with RSA-OAEP-256.
 * A PEM key is PKCS#8 for EC and PKCS#1 for RSA (the form the AA hands to CDH, cdh.md §7.2).
 */

export type TeeKeyAlgorithm = 'P-256' | 'P-521' | 'RSA-2048';
export const TEE_KEY_ALGORITHMS: readonly TeeKeyAlgorithm[] = ['P-256', 'P-521', 'RSA-2048'];

const generate = promisify(generateKeyPair);

export class TeeKeyPair {
  /** The public key exactly as sent in `runtime-data.tee-pubkey`: no extra members (they break the binding, §4). */
  readonly publicJwk: TeePublicJwk;

  private constructor(readonly privateKey: KeyObject) {
    const pub = createPublicKey(privateKey).export({ format: 'jwk' });
    let jwk: unknown;
    if (privateKey.asymmetricKeyType === 'ec') {
      jwk = { kty: 'EC', crv: pub.crv, alg: 'ECDH-ES+A256KW', x: pub.x, y: pub.y };
    } else if (privateKey.asymmetricKeyType === 'rsa') {
      const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048)
        throw new KbsClientError(
          'TEE_KEY_INVALID',
          `TEE key: RSA key has ${bits} bits, 2048 or more required`,
        );
      jwk = { kty: 'RSA', alg: 'RSA-OAEP-256', n: pub.n, e: pub.e };
    } else {
      throw new KbsClientError(
        'TEE_KEY_INVALID',
        `TEE key: ${privateKey.asymmetricKeyType} keys are not supported (EC P-256, P-521 or RSA)`,
      );
    }
    try {
      this.publicJwk = parseTeePublicJwk(jwk);
    } catch (e) {
      throw new KbsClientError('TEE_KEY_INVALID', `TEE key: ${(e as Error).message}`, { cause: e });
    }
  }

  static async generate(algorithm: TeeKeyAlgorithm = 'P-256'): Promise<TeeKeyPair> {
    switch (algorithm) {
      case 'P-256':
        return new TeeKeyPair((await generate('ec', { namedCurve: 'prime256v1' })).privateKey);
      case 'P-521':
        return new TeeKeyPair((await generate('ec', { namedCurve: 'secp521r1' })).privateKey);
      case 'RSA-2048':
        return new TeeKeyPair(
          (await generate('rsa', { modulusLength: 2048, publicExponent: 0x10001 })).privateKey,
        );
      default:
        throw new KbsClientError(
          'INVALID_ARGUMENT',
          `TEE key algorithm ${JSON.stringify(algorithm)} is not supported (${TEE_KEY_ALGORITHMS.join(', ')})`,
        );
    }
  }

  /** A private key in PEM (PKCS#8, PKCS#1 or SEC1). */
  static fromPem(pem: string | Uint8Array): TeeKeyPair {
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: Buffer.from(pem), format: 'pem' });
    } catch (e) {
      throw new KbsClientError('TEE_KEY_INVALID', 'TEE key: not a PEM private key', { cause: e });
    }
    return new TeeKeyPair(key);
  }

  static fromKeyObject(key: KeyObject): TeeKeyPair {
    if (key.type !== 'private')
      throw new KbsClientError('TEE_KEY_INVALID', 'TEE key: a private key is required');
    return new TeeKeyPair(key);
  }

  /** PEM as the AA hands it over: PKCS#8 for EC, PKCS#1 for RSA. */
  toPem(): string {
    const type = this.privateKey.asymmetricKeyType === 'rsa' ? 'pkcs1' : 'pkcs8';
    return this.privateKey.export({ format: 'pem', type }).toString();
  }

  /** True when `jwk` (e.g. the tee-pubkey in a token) names this key. */
  matches(jwk: unknown): boolean {
    if (!jwk || typeof jwk !== 'object') return false;
    const o = jwk as Record<string, unknown>;
    const p = this.publicJwk;
    if (p.kty === 'EC') return o.kty === 'EC' && o.crv === p.crv && o.x === p.x && o.y === p.y;
    return o.kty === 'RSA' && o.n === p.n && o.e === p.e;
  }
}
