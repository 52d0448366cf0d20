import { CocosealError } from '../common/errors.js';

export type CryptoErrorCode =
  | 'BASE64_INVALID'
  | 'JSON_INVALID'
  | 'KEY_INVALID'
  | 'SIGNATURE_INVALID'
  | 'DECRYPT_FAILED'
  | 'UNSUPPORTED_ALGORITHM';

export class CryptoError extends CocosealError<CryptoErrorCode> {}
