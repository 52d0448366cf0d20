import { decodeB64U } from '../crypto/base64.js';
import { KbsClientError } from './errors.js';

/*
 * An attestation token as the guest sees it: claims decoded without verification, only to learn
 * `exp`/`nbf` (cdh.md §7.2). The KBS verifies the signature; the guest cannot and need not.
 * The raw token is a bearer credential: it never appears in messages.
 */

export interface TokenClaims {
  exp?: number;
  nbf?: number;
  iat?: number;
  [claim: string]: unknown;
}

export class AttestationToken {
  readonly claims: TokenClaims;

  constructor(readonly raw: string) {
    this.claims = decodeTokenClaims(raw);
  }

  /** Expiry in epoch ms, if the token has `exp`. */
  get expiresAt(): number | undefined {
    return this.claims.exp === undefined ? undefined : this.claims.exp * 1000;
  }

  /** The tee-pubkey the KBS will encrypt to, when the claims carry one where the KBS looks (§6.4). */
  teePubkey(): unknown {
    return (
      at(
        this.claims,
        'submods',
        'cpu0',
        'ear.veraison.annotated-evidence',
        'runtime_data_claims',
        'tee-pubkey',
      ) ??
      at(this.claims, 'customized_claims', 'runtime_data', 'tee-pubkey') ??
      at(this.claims, 'tee-pubkey')
    );
  }
}

function at(v: unknown, ...path: string[]): unknown {
  let cur = v;
  for (const k of path) {
    if (!cur || typeof cur !== 'object' || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

export function decodeTokenClaims(jwt: string): TokenClaims {
  const parts = jwt.split('.');
  if (parts.length !== 3 || parts.some((p, i) => p.length === 0 && i < 2)) {
    throw new KbsClientError('TOKEN_INVALID', 'attestation token is not a JWT (three dot-separated parts)');
  }
  let claims: unknown;
  try {
    claims = JSON.parse(decodeB64U(parts[1], 'token claims').toString('utf8'));
  } catch (e) {
    throw new KbsClientError('TOKEN_INVALID', 'attestation token claims are not base64url JSON', {
      cause: e,
    });
  }
  if (!claims || typeof claims !== 'object' || Array.isArray(claims)) {
    throw new KbsClientError('TOKEN_INVALID', 'attestation token claims are not a JSON object');
  }
  for (const k of ['exp', 'nbf', 'iat']) {
    const v = (claims as Record<string, unknown>)[k];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) {
      throw new KbsClientError('TOKEN_INVALID', `attestation token claim "${k}" is not a number`);
    }
  }
  return claims as TokenClaims;
}
