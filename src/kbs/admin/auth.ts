import { createPublicKey, type KeyObject } from 'node:crypto';
import { EarError } from '../../attestation/ear/errors.js';
import {
  checkKeyForAlg,
  type DecodedJws,
  decodeJws,
  publicKeyFromJwk,
  verifyJwsSignature,
} from '../../attestation/ear/jws.js';
import type { AclRule, AdminConfig, IdentityProvider } from '../config/config.js';
import { loadUri } from '../util/load-uri.js';

/*
 * Admin API authorization (kbs-protocol.md §7.2): `DenyAll`, `InsecureAllowAll`, or
 * `AuthenticatedAuthorization` (the default): a Bearer JWT verified against each identity provider in
 * turn (EdDSA, ES256/384, RS256, PS256 from the provider's public keys), `exp` required with 60 s
 * leeway, `iss`/`aud` checked when configured, a string `role` required, then the first ACL rule with
 * that role whose regex matches the request URI (path and query) allows the call.
 */

const LEEWAY_S = 60;
const ALLOWED_ALGS = new Set(['EdDSA', 'ES256', 'ES384', 'RS256', 'PS256']);

export class AdminDenied extends Error {}

export interface AdminIdentity {
  role: string;
  /** `sub` or issuer, for the audit log. */
  actor: string;
}

interface LoadedIdp {
  cfg: IdentityProvider;
  keys: { key: KeyObject; kid?: string; alg?: string }[];
}

async function loadJwkSet(uri: string): Promise<LoadedIdp['keys']> {
  let doc = JSON.parse((await loadUri(uri, 'admin jwk_set_uri')).toString('utf8')) as Record<string, unknown>;
  if (!Array.isArray(doc.keys) && uri.startsWith('https://')) {
    // An issuer base URL: follow its OpenID configuration to the JWKS.
    const conf = JSON.parse(
      (
        await loadUri(`${uri.replace(/\/$/, '')}/.well-known/openid-configuration`, 'admin jwk_set_uri')
      ).toString('utf8'),
    ) as Record<string, unknown>;
    if (typeof conf.jwks_uri !== 'string') throw new Error(`admin jwk_set_uri: ${uri} has no jwks_uri`);
    doc = JSON.parse((await loadUri(conf.jwks_uri, 'admin jwks_uri')).toString('utf8'));
  }
  if (!Array.isArray(doc.keys)) throw new Error(`admin jwk_set_uri: ${uri} is not a JWK set`);
  return (doc.keys as Record<string, unknown>[]).map((k) => ({
    key: publicKeyFromJwk(k),
    kid: typeof k.kid === 'string' ? k.kid : undefined,
    alg: typeof k.alg === 'string' ? k.alg : undefined,
  }));
}

export class AdminAuthorizer {
  private constructor(
    private readonly cfg: AdminConfig,
    private readonly idps: LoadedIdp[],
  ) {}

  static async create(cfg: AdminConfig): Promise<AdminAuthorizer> {
    const idps: LoadedIdp[] = [];
    if (cfg.mode === 'AuthenticatedAuthorization') {
      for (const idp of cfg.identityProviders) {
        const keys: LoadedIdp['keys'] = [];
        if (idp.publicKeyUri) {
          const pem = await loadUri(idp.publicKeyUri, 'admin public_key_uri');
          try {
            keys.push({ key: createPublicKey(pem) });
          } catch {
            throw new Error(
              `admin public_key_uri: ${idp.publicKeyUri} is not a PEM public key or certificate`,
            );
          }
        }
        if (idp.jwkSetUri) keys.push(...(await loadJwkSet(idp.jwkSetUri)));
        idps.push({ cfg: idp, keys });
      }
    }
    return new AdminAuthorizer(cfg, idps);
  }

  get mode(): AdminConfig['mode'] {
    return this.cfg.mode;
  }

  /** Authorizes an admin request; throws AdminDenied with the upstream reason text. */
  authorize(authorization: string | undefined, uri: string, now: number): AdminIdentity {
    const cfg = this.cfg;
    if (cfg.mode === 'InsecureAllowAll') return { role: 'insecure-allow-all', actor: 'anonymous' };
    if (cfg.mode === 'DenyAll')
      throw new AdminDenied('Admin access denied as DenyAll authorization_mode is enabled');
    const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!m) throw new AdminDenied('Bearer token not found in the Authorization header');
    let d: DecodedJws;
    try {
      d = decodeJws(m[1]);
    } catch {
      throw new AdminDenied('Cannot verify token with any of the issuers');
    }
    const claims = this.#verify(d, now);
    if (typeof claims.role !== 'string') throw new AdminDenied('Missing required `role` claim in JWT');
    const role = claims.role;
    if (!cfg.acls.some((r: AclRule) => r.role === role && r.allowedEndpoints.test(uri))) {
      throw new AdminDenied(`Role ${role} not allowed for path ${uri}`);
    }
    const actor =
      typeof claims.sub === 'string' ? claims.sub : typeof claims.iss === 'string' ? claims.iss : role;
    return { role, actor };
  }

  #verify(d: DecodedJws, now: number): Record<string, unknown> {
    const alg = d.header.alg;
    const kid = d.header.kid;
    if (typeof alg === 'string' && ALLOWED_ALGS.has(alg)) {
      for (const idp of this.idps) {
        for (const k of idp.keys) {
          if (k.kid !== undefined && typeof kid === 'string' && k.kid !== kid) continue;
          if (k.alg !== undefined && k.alg !== alg) continue;
          try {
            checkKeyForAlg(alg, k.key);
          } catch (e) {
            if (e instanceof EarError) continue;
            throw e;
          }
          if (!verifyJwsSignature(alg, k.key, d)) continue;
          if (this.#claimsOk(idp.cfg, d.payload, now)) return d.payload;
        }
      }
    }
    throw new AdminDenied('Cannot verify token with any of the issuers');
  }

  #claimsOk(idp: IdentityProvider, c: Record<string, unknown>, now: number): boolean {
    if (typeof c.exp !== 'number' || now > (c.exp + LEEWAY_S) * 1000) return false;
    if (typeof c.nbf === 'number' && now < (c.nbf - LEEWAY_S) * 1000) return false;
    if (idp.issuer !== undefined && c.iss !== idp.issuer) return false;
    if (idp.audience !== undefined) {
      const aud = c.aud;
      const ok =
        typeof aud === 'string' ? aud === idp.audience : Array.isArray(aud) && aud.includes(idp.audience);
      if (!ok) return false;
    }
    return true;
  }
}
