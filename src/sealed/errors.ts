import { CocosealError } from '../common/errors.js';

export type SealedSecretErrorCode =
  | 'BAD_FORMAT'
  | 'SIGNATURE_INVALID'
  | 'KID_UNKNOWN'
  | 'KID_INVALID'
  | 'KEY_INVALID'
  | 'ALG_UNSUPPORTED'
  | 'VERSION_UNSUPPORTED'
  | 'PROVIDER_UNSUPPORTED'
  | 'DECRYPT_FAILED'
  | 'RESOURCE_URI_INVALID';

export class SealedSecretError extends CocosealError<SealedSecretErrorCode> {}
