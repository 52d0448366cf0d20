import { createHash, type KeyObject, X509Certificate } from 'node:crypto';
import { EarError } from '../../attestation/ear/errors.js';
import {
  type DecodedJws,
  decodeJws,
  isSupportedAlg,
  publicKeyFromJwk,
  verifyJwsSignature,
} from '../../attestation/ear/jws.js';
import type { EarSigner } from '../../attestation/ear/token.js';
import { pemBlocks } from '../../attestation/x509.js';
import { Lru } from '../../common/lru.js';
import { decodeB64U, decodeStd } from '../../crypto/base64.js';
import { type PreparedTeeKey, prepareTeeKey } from '../../crypto/jwe.js';
import { TEE_NAMES } from '../as/verifiers.js';
import type { AttestationTokenConfig } from '../config/config.js';
import { toCel } from '../policy/cel.js';
import { loadUri } from '../util/load-uri.js';
import { findTeeKey, TeeKeyNotFound } from './tee-key.js';

/*
 * Attestation-token verification for resource requests (kbs-protocol.md §6.2). Key selection:
 *
 *  - header `jwk` equal to this KBS's own signer key: trusted (the built-in AS is a trust source);
 *  - header `jwk` with `insecure_header_jwk`: the header key, unchecked (testing only);
 *  - header `jwk` otherwise: `x5c[0]` must carry exactly that key and the chain must end at a
 *    certificate from `trusted_certs_paths`;
 *  - header `kid`: the entry of `trusted_jwk_sets`.
 *
 * The JWK must carry `alg` and the header `alg` must equal it. `exp` is required (60 s leeway); `nbf`
 * and `aud` are not checked, as upstream. A successful verification is cached until the token
 * expires, in a bounded LRU keyed by the exact token string.
 */

const LEEWAY_S = 60;

export class TokenRejected extends Error {}

export interface VerifiedToken {
  claims: Record<string, unknown>;
  /** The claims converted for CEL, computed once per token. */
  celInput: unknown;
  /** The TEE key, validated and decoded once per token. */
  teeKey: PreparedTeeKey;
  /** Expiry including leeway, ms since epoch. */
  validUntilMs: number;
  /** `sha256:<hex>` of the token (audit; never the token itself). */
  digest: string;
  /** The primary TEE named in the claims, when recognisable. */
  tee?: string;
  /** Memoized resource-policy decisions for this token: key policy digest + request target (bounded). */
  decisions: Map<string, boolean>;
}

interface TrustedJwk {
  key: KeyObject;
  alg: string;
}

function decodeCertB64(s: unknown): Buffer {
  if (typeof s !== 'string') throw new TokenRejected('x5c entries must be strings');
  try {
    return decodeStd(s, 'x5c');
  } catch {
    try {
      return decodeB64U(s, 'x5c');
    } catch {
      throw new TokenRejected('x5c entry is not base64');
    }
  }
}

function sameKey(a: KeyObject, jwk: Record<string, unknown>): boolean {
  const j = a.export({ format: 'jwk' });
  if (j.kty !== jwk.kty) return false;
  if (j.kty === 'EC') return j.crv === jwk.crv && j.x === jwk.x && j.y === jwk.y;
  if (j.kty === 'RSA') return j.n === jwk.n && j.e === jwk.e;
  if (j.kty === 'OKP') return j.crv === jwk.crv && j.x === jwk.x;
  return false;
}

function validAt(c: X509Certificate, now: number): boolean {
  return now >= Date.parse(c.validFrom) && now <= Date.parse(c.validTo);
}

export class TokenVerifier {
  readonly #cfg: AttestationTokenConfig;
  readonly #ownSigner: EarSigner | undefined;
  #trustedCerts: X509Certificate[] = [];
  #jwks = new Map<string, TrustedJwk>();
  readonly #cache: Lru<VerifiedToken>;
  readonly #headerKeys = new Lru<KeyObject>(64);

  readonly #clock: () => number;

  constructor(cfg: AttestationTokenConfig, ownSigner?: EarSigner, clock: () => number = Date.now) {
    this.#clock = clock;
    this.#cfg = cfg;
    this.#ownSigner = ownSigner;
    this.#cache = new Lru(cfg.cacheSize);
  }

  /** Loads trusted certificates and JWK sets. Fails on unreadable or invalid trust material. */
  async init(): Promise<void> {
    for (const p of this.#cfg.trustedCertsPaths) {
      const data = await loadUri(p, '[attestation_token] trusted_certs_paths');
      const text = data.toString('latin1');
      const ders = text.includes('-----BEGIN CERTIFICATE-----') ? pemBlocks(text) : [data];
      for (const d of ders) {
        try {
          this.#trustedCerts.push(new X509Certificate(d));
        } catch {
          throw new Error(`[attestation_token] trusted_certs_paths: ${p} holds an invalid certificate`);
        }
      }
    }
    for (const p of this.#cfg.trustedJwkSets) {
      const data = await loadUri(p, '[attestation_token] trusted_jwk_sets');
      let doc: { keys?: unknown };
      try {
        doc = JSON.parse(data.toString('utf8'));
      } catch {
        throw new Error(`[attestation_token] trusted_jwk_sets: ${p} is not JSON`);
      }
      if (!Array.isArray(doc.keys))
        throw new Error(`[attestation_token] trusted_jwk_sets: ${p} has no "keys" array`);
      for (const k of doc.keys as Record<string, unknown>[]) {
        if (typeof k?.kid !== 'string') continue;
        if (!isSupportedAlg(k.alg)) {
          throw new Error(
            `[attestation_token] trusted_jwk_sets: key ${k.kid} in ${p} needs a supported "alg"`,
          );
        }
        this.#jwks.set(k.kid, { key: publicKeyFromJwk(k), alg: k.alg });
      }
    }
  }

  #keyFor(d: DecodedJws, now: number): TrustedJwk {
    const h = d.header;
    if (h.jwk !== undefined) {
      const jwk = h.jwk as Record<string, unknown>;
      if (!jwk || typeof jwk !== 'object' || Array.isArray(jwk))
        throw new TokenRejected('header jwk must be an object');
      if (!isSupportedAlg(jwk.alg)) throw new TokenRejected('header jwk has no supported "alg"');
      if (this.#ownSigner?.isOwnKey(jwk)) return { key: this.#ownKey(jwk), alg: jwk.alg };
      if (this.#cfg.insecureHeaderJwk) return { key: this.#ownKey(jwk), alg: jwk.alg };
      if (this.#trustedCerts.length === 0)
        throw new TokenRejected('header jwk is not trusted: no trusted_certs_paths configured');
      if (!Array.isArray(jwk.x5c) || jwk.x5c.length === 0)
        throw new TokenRejected('header jwk carries no x5c chain');
      let chain: X509Certificate[];
      try {
        chain = jwk.x5c.map((c) => new X509Certificate(decodeCertB64(c)));
      } catch (e) {
        if (e instanceof TokenRejected) throw e;
        throw new TokenRejected('x5c holds an invalid certificate');
      }
      const leafKey = chain[0].publicKey;
      if (!sameKey(leafKey, jwk)) throw new TokenRejected('x5c leaf key differs from the header jwk');
      for (let i = 0; i < chain.length; i++) {
        if (!validAt(chain[i], now)) throw new TokenRejected(`x5c certificate ${i} is not valid now`);
        if (
          i + 1 < chain.length &&
          !(chain[i].checkIssued(chain[i + 1]) && chain[i].verify(chain[i + 1].publicKey))
        ) {
          throw new TokenRejected(`x5c certificate ${i} is not signed by certificate ${i + 1}`);
        }
      }
      const last = chain[chain.length - 1];
      const anchored = this.#trustedCerts.some(
        (t) =>
          validAt(t, now) && (t.raw.equals(last.raw) || (last.checkIssued(t) && last.verify(t.publicKey))),
      );
      if (!anchored) throw new TokenRejected('x5c chain does not end at a trusted certificate');
      return { key: leafKey, alg: jwk.alg };
    }
    if (typeof h.kid === 'string') {
      const k = this.#jwks.get(h.kid);
      if (!k) throw new TokenRejected('kid is not in any trusted JWK set');
      return k;
    }
    throw new TokenRejected('token header has neither jwk nor kid');
  }

  #ownKey(jwk: Record<string, unknown>): KeyObject {
    const id = JSON.stringify([jwk.kty, jwk.crv, jwk.x, jwk.y, jwk.n, jwk.e]);
    let k = this.#headerKeys.get(id);
    if (!k) {
      k = publicKeyFromJwk({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y, n: jwk.n, e: jwk.e });
      this.#headerKeys.set(id, k);
    }
    return k;
  }

  /** Whether verified tokens are cached (`verified_token_cache_size` > 0). */
  get caching(): boolean {
    return this.#cfg.cacheSize > 0;
  }

  /**
   * `v`, an earlier `verify` result for exactly `token`, when a cache hit would return it now (that
   * is, while caching is on and the token has not expired); throws as `verify` does otherwise. Lets a
   * caller that kept `v` skip the cache lookup (hashing a long token) without changing the outcome.
   */
  revalidate(token: string, v: VerifiedToken, now = this.#clock()): VerifiedToken {
    if (!this.caching) return this.verify(token, now);
    if (now <= v.validUntilMs) return v;
    this.#cache.delete(token);
    throw new TokenRejected('token expired');
  }

  /** Verifies a token (cached). Throws TokenRejected with a loggable reason. */
  verify(token: string, now = this.#clock()): VerifiedToken {
    const hit = this.#cache.get(token);
    if (hit) {
      if (now <= hit.validUntilMs) return hit;
      this.#cache.delete(token);
      throw new TokenRejected('token expired');
    }
    let d: DecodedJws;
    try {
      d = decodeJws(token);
    } catch (e) {
      throw new TokenRejected(e instanceof EarError ? e.message : 'token is malformed');
    }
    const key = this.#keyFor(d, now);
    if (d.header.alg !== key.alg)
      throw new TokenRejected(
        `header alg ${JSON.stringify(d.header.alg)} differs from the key alg ${key.alg}`,
      );
    let ok: boolean;
    try {
      ok = verifyJwsSignature(key.alg, key.key, d);
    } catch (e) {
      throw new TokenRejected(e instanceof EarError ? e.message : 'signature check failed');
    }
    if (!ok) throw new TokenRejected('token signature is invalid');
    const exp = d.payload.exp;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new TokenRejected('token has no numeric exp');
    const validUntilMs = (exp + LEEWAY_S) * 1000;
    if (now > validUntilMs) throw new TokenRejected('token expired');
    let teeKey: PreparedTeeKey;
    try {
      teeKey = prepareTeeKey(findTeeKey(d.payload, this.#cfg.extraTeekeyPaths));
    } catch (e) {
      throw new TokenRejected(
        e instanceof TeeKeyNotFound ? e.message : `the TEE key is unusable: ${(e as Error).message}`,
      );
    }
    const v: VerifiedToken = {
      claims: d.payload,
      celInput: toCel(d.payload),
      teeKey,
      validUntilMs,
      digest: `sha256:${createHash('sha256').update(token).digest('hex')}`,
      tee: primaryTee(d.payload),
      decisions: new Map(),
    };
    this.#cache.set(token, v);
    return v;
  }
}

function primaryTee(claims: Record<string, unknown>): string | undefined {
  const ae = (claims.submods as Record<string, Record<string, unknown>> | undefined)?.cpu0?.[
    'ear.veraison.annotated-evidence'
  ];
  if (!ae || typeof ae !== 'object') return undefined;
  return Object.keys(ae).find((k) => TEE_NAMES.has(k));
}
