import { CocosealError } from '../common/errors.js';

export type CdhErrorCode =
  | 'CONFIG_INVALID'
  | 'CREDENTIAL_PATH_INVALID'
  | 'CREDENTIAL_FAILED'
  | 'UNSEAL_FAILED'
  | 'DELIVERY_FAILED';

export class CdhError extends CocosealError<CdhErrorCode> {}
