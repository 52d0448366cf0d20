import { CocosealError } from '../../common/errors.js';

/**
 * EAR token and trust-vector errors.
 * - `TOKEN_MALFORMED`: not a compact JWS with JSON header and claims.
 * - `TOKEN_SIGNATURE_INVALID`: the signature does not verify under the selected key.
 * - `TOKEN_UNTRUSTED`: no configured trust source vouches for the signing key.
 * - `TOKEN_EXPIRED`: `exp` missing or past (with leeway).
 * - `UNSUPPORTED_ALGORITHM`: a JWS or key algorithm we do not verify.
 * - `TRUST_VECTOR_INVALID`: a policy produced an unknown trust claim or an out-of-range value.
 */
export type EarErrorCode =
  | 'TOKEN_MALFORMED'
  | 'TOKEN_SIGNATURE_INVALID'
  | 'TOKEN_UNTRUSTED'
  | 'TOKEN_EXPIRED'
  | 'UNSUPPORTED_ALGORITHM'
  | 'TRUST_VECTOR_INVALID';

export class EarError extends CocosealError<EarErrorCode> {}
