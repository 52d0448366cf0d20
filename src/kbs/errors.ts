import { CocosealError } from '../common/errors.js';

/*
 * KBS errors. Each code maps to the upstream `ErrorInformation` variant (the `type` suffix of the error
 * body) and an HTTP status (kbs-protocol.md §9): 404 only for a bad top-level path or an unknown
 * plugin, 401 for everything else, including denials and missing resources, because the upstream
 * guest client re-attests on 401 and fails fast on anything else. 413 for an oversized body comes
 * from the HTTP layer, before any handler runs.
 *
 * `detail` is what the client sees: fixed upstream texts, never a cause that could leak internals.
 * `message` (logged) may say more, but never secret bytes, keys or tokens.
 */

export type KbsErrorCode =
  | 'AUTH_FAILED'
  | 'ATTEST_FAILED'
  | 'SET_ATTESTATION_POLICY_FAILED'
  | 'TOKEN_NOT_FOUND'
  | 'TOKEN_INVALID'
  | 'POLICY_DENY'
  | 'POLICY_ENGINE_ERROR'
  | 'POLICY_PARSE_ERROR'
  | 'PLUGIN_INTERNAL'
  | 'PLUGIN_NOT_FOUND'
  | 'INVALID_REQUEST_PATH'
  | 'ADMIN_ACCESS_DENIED'
  | 'ADMIN_PLUGIN_DENIED'
  | 'RVPS_ERROR'
  | 'JWE_FAILED'
  | 'PAYLOAD_TOO_LARGE'
  | 'METHOD_NOT_ALLOWED'
  | 'CONFIG_INVALID'
  | 'INTERNAL';

interface Mapping {
  variant: string;
  status: number;
}

const MAP: Record<KbsErrorCode, Mapping> = {
  AUTH_FAILED: { variant: 'AttestationError', status: 401 },
  ATTEST_FAILED: { variant: 'AttestationError', status: 401 },
  SET_ATTESTATION_POLICY_FAILED: { variant: 'AttestationError', status: 401 },
  TOKEN_NOT_FOUND: { variant: 'TokenNotFound', status: 401 },
  TOKEN_INVALID: { variant: 'TokenVerifierError', status: 401 },
  POLICY_DENY: { variant: 'PolicyDeny', status: 401 },
  POLICY_ENGINE_ERROR: { variant: 'PolicyEngineError', status: 401 },
  POLICY_PARSE_ERROR: { variant: 'ParsePolicyError', status: 401 },
  PLUGIN_INTERNAL: { variant: 'PluginInternalError', status: 401 },
  PLUGIN_NOT_FOUND: { variant: 'PluginNotFound', status: 404 },
  INVALID_REQUEST_PATH: { variant: 'InvalidRequestPath', status: 404 },
  ADMIN_ACCESS_DENIED: { variant: 'AdminAuthAccess', status: 401 },
  ADMIN_PLUGIN_DENIED: { variant: 'AdminAuthInitialization', status: 401 },
  RVPS_ERROR: { variant: 'RvpsError', status: 401 },
  JWE_FAILED: { variant: 'JweError', status: 401 },
  PAYLOAD_TOO_LARGE: { variant: 'PayloadTooLarge', status: 413 },
  METHOD_NOT_ALLOWED: { variant: 'MethodNotAllowed', status: 405 },
  CONFIG_INVALID: { variant: 'ConfigError', status: 500 },
  INTERNAL: { variant: 'InternalError', status: 401 },
};

export const ERROR_TYPE_PREFIX = 'https://github.com/confidential-containers/kbs/errors/';

export class KbsError extends CocosealError<KbsErrorCode> {
  /** The client-visible `detail` (upstream text). */
  readonly detail: string;

  constructor(code: KbsErrorCode, detail: string, options?: { cause?: unknown; log?: string }) {
    super(code, options?.log ? `${detail} (${options.log})` : detail, options);
    this.detail = detail;
  }

  get status(): number {
    return MAP[this.code].status;
  }

  get variant(): string {
    return MAP[this.code].variant;
  }

  /** The JSON error body, `{"type":…,"detail":…}`. */
  body(): string {
    return JSON.stringify({ type: ERROR_TYPE_PREFIX + this.variant, detail: this.detail });
  }
}

/* Upstream detail texts (kbs-protocol.md §9). */
export const errors = {
  authFailed: (cause: string, log?: string) =>
    new KbsError('AUTH_FAILED', `Attestation error: RCAR handshake Auth failed: ${cause}`, { log }),
  attestFailed: (log: string, cause?: unknown) =>
    new KbsError('ATTEST_FAILED', 'Attestation error: RCAR handshake Attest failed', { log, cause }),
  setAttestationPolicyFailed: (log: string) =>
    new KbsError('SET_ATTESTATION_POLICY_FAILED', 'Attestation error: Set Attestation Policy failed', {
      log,
    }),
  tokenNotFound: () => new KbsError('TOKEN_NOT_FOUND', 'Attestation Token not found'),
  tokenInvalid: (log: string, cause?: unknown) =>
    new KbsError('TOKEN_INVALID', 'Token Verifier error', { log, cause }),
  policyDeny: (log?: string) => new KbsError('POLICY_DENY', 'Access denied by policy', { log }),
  policyEngine: (reason: string) => new KbsError('POLICY_ENGINE_ERROR', `Policy engine error: ${reason}`),
  policyParse: (reason: string) => new KbsError('POLICY_PARSE_ERROR', `Failed to parse policy: ${reason}`),
  pluginInternal: (log: string, cause?: unknown) =>
    new KbsError('PLUGIN_INTERNAL', 'Plugin internal error', { log, cause }),
  pluginNotFound: (name: string) => new KbsError('PLUGIN_NOT_FOUND', `Plugin ${name} not found`),
  adminAccess: (endpoint: string, reason: string) =>
    new KbsError(
      'ADMIN_ACCESS_DENIED',
      `admin access denied for endpoint ${endpoint}: Admin access denied: ${reason}`,
    ),
  adminPlugin: (reason: string) =>
    new KbsError(
      'ADMIN_PLUGIN_DENIED',
      `failed to initialize [admin] configuration: Admin access denied: ${reason}`,
    ),
  rvps: (reason: string) => new KbsError('RVPS_ERROR', `RVPS configuration failed: ${reason}`),
  jwe: (log: string, cause?: unknown) => new KbsError('JWE_FAILED', 'JWE failed', { log, cause }),
  payloadTooLarge: (limit: number) =>
    new KbsError('PAYLOAD_TOO_LARGE', `Request body is larger than the configured limit of ${limit} bytes`),
  methodNotAllowed: () => new KbsError('METHOD_NOT_ALLOWED', 'Method not allowed'),
  config: (msg: string) => new KbsError('CONFIG_INVALID', msg),
};
