import { CocosealError } from '../common/errors.js';

export type KmsErrorCode =
  | 'KMS_FAILED'
  | 'PROVIDER_UNSUPPORTED'
  | 'CREDENTIAL_MISSING'
  | 'RESOURCE_NOT_FOUND'
  | 'RESOURCE_URI_INVALID'
  | 'KBS_UNREACHABLE'
  | 'ATTESTATION_FAILED'
  | 'POLICY_DENIED';

/** A KMS or resource failure. `provider` names the provider involved, when there is one. */
export class KmsError extends CocosealError<KmsErrorCode> {
  readonly provider: string | undefined;
  constructor(code: KmsErrorCode, message: string, options?: { cause?: unknown; provider?: string }) {
    super(code, options?.provider ? `${options.provider}: ${message}` : message, options);
    this.provider = options?.provider;
  }
}
