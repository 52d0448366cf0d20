import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { EarError } from './errors.js';
import { signJws } from './jws.js';
import type { EarStatus, TrustVector } from './trust-vector.js';

/*
 * EAR attestation tokens as the Trustee AS issues them (kbs-protocol.md §8.2): a JWS ES256 whose
 * header carries the signer's public JWK (plus `x5c` when the signer has a certificate chain), and
 * claims with one submodule per verified piece of evidence.
 */

export const EAR_PROFILE = 'tag:github.com,2024:confidential-containers/Trustee';

export interface EarSubmod {
  'ear.status': EarStatus;
  'ear.trustworthiness-vector': TrustVector;
  'ear.appraisal-policy-id': string;
  'ear.veraison.annotated-evidence': Record<string, unknown>;
  [extension: string]: unknown;
}

export interface EarClaimsInput {
  profile: string;
  developer: string;
  build: string;
  issuer: string;
  submods: Record<string, EarSubmod>;
  /** Seconds since the epoch. */
  iat: number;
  durationMin: number;
}

/** Claims in upstream member order: eat_profile, iat, ear.verifier-id, submods, exp, iss. */
export function earClaims(i: EarClaimsInput): Record<string, unknown> {
  return {
    eat_profile: i.profile,
    iat: i.iat,
    'ear.verifier-id': { developer: i.developer, build: i.build },
    submods: i.submods,
    exp: i.iat + i.durationMin * 60,
    iss: i.issuer,
  };
}

export interface SignerOptions {
  /** Certificate chain, leaf first, STD base64 DER (goes into `jwk.x5c`). */
  x5c?: string[];
  x5u?: string;
}

export class EarSigner {
  readonly #key: KeyObject;
  readonly publicJwk: Record<string, unknown>;
  readonly #header: object;

  constructor(privateKey: KeyObject, opts: SignerOptions = {}) {
    if (
      privateKey.type !== 'private' ||
      privateKey.asymmetricKeyType !== 'ec' ||
      privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1'
    ) {
      throw new EarError('UNSUPPORTED_ALGORITHM', 'the EAR token signer must be an EC P-256 private key');
    }
    this.#key = privateKey;
    const pub = createPublicKey(privateKey).export({ format: 'jwk' });
    const jwk: Record<string, unknown> = { kty: 'EC', crv: 'P-256', alg: 'ES256', x: pub.x, y: pub.y };
    if (opts.x5c?.length) jwk.x5c = opts.x5c;
    if (opts.x5u) jwk.x5u = opts.x5u;
    this.publicJwk = jwk;
    this.#header = { alg: 'ES256', typ: 'JWT', jwk };
  }

  /** From a PEM (PKCS#8 or SEC1) private key. */
  static fromPem(pem: string | Buffer, opts?: SignerOptions): EarSigner {
    let key: KeyObject;
    try {
      key = createPrivateKey(pem);
    } catch (e) {
      throw new EarError('UNSUPPORTED_ALGORITHM', 'the EAR token signer key is not a PEM private key', {
        cause: e,
      });
    }
    return new EarSigner(key, opts);
  }

  /** True when `jwk` names this signer's public key (x and y equal). */
  isOwnKey(jwk: unknown): boolean {
    if (!jwk || typeof jwk !== 'object') return false;
    const j = jwk as Record<string, unknown>;
    return j.kty === 'EC' && j.crv === 'P-256' && j.x === this.publicJwk.x && j.y === this.publicJwk.y;
  }

  sign(claims: object): string {
    return signJws('ES256', this.#key, this.#header, claims);
  }
}
