import { CocosealError } from '../common/errors.js';

export type KbsClientErrorCode =
  /** Connection refused, DNS failure, TLS failure or timeout: the KBS could not be reached. */
  | 'KBS_UNREACHABLE'
  /** The RCAR handshake (`/auth` or `/attest`) was rejected, or the attester failed. */
  | 'ATTESTATION_FAILED'
  /** The KBS kept answering 401 after a fresh token (policy denial, untrusted token). */
  | 'UNAUTHORIZED'
  /** 404, or the resource plugin failed to serve the path after a fresh token (kbs-protocol.md §9). */
  | 'RESOURCE_NOT_FOUND'
  /** An admin call was refused (`AdminAuthAccess`, `AdminAuthInitialization`). */
  | 'ADMIN_DENIED'
  /** Any other non-2xx answer (upstream `KbsInternalError`). */
  | 'KBS_ERROR'
  /** The KBS answered 2xx with a body we cannot use (not JSON, wrong shape). */
  | 'RESPONSE_INVALID'
  /** The JWE resource response did not decrypt under the TEE key. */
  | 'DECRYPT_FAILED'
  /** A TEE key (generated or read from a file) is unusable. */
  | 'TEE_KEY_INVALID'
  /** A supplied attestation token is not a JWT with usable claims. */
  | 'TOKEN_INVALID'
  /** `audit verify`: the KBS reports its audit hash chain altered. */
  | 'AUDIT_CHAIN_BROKEN'
  /** A caller-supplied argument (URL, resource path, policy, key) is invalid. */
  | 'INVALID_ARGUMENT';

/**
 * Errors of the KBS client library. When the KBS answered with an error body, `kbsType` is the
 * upstream error variant (`PolicyDeny`, `TokenVerifierError`, ...) and `status` the HTTP status.
 */
export class KbsClientError extends CocosealError<KbsClientErrorCode> {
  readonly status: number | undefined;
  readonly kbsType: string | undefined;

  constructor(
    code: KbsClientErrorCode,
    message: string,
    options?: { cause?: unknown; status?: number; kbsType?: string },
  ) {
    super(code, message, options);
    this.status = options?.status;
    this.kbsType = options?.kbsType;
  }
}
