import { CocosealError } from '../../common/errors.js';

export type StorageErrorCode = 'ALREADY_EXISTS' | 'STORAGE_UNAVAILABLE' | 'STORAGE_CORRUPT' | 'INVALID_KEY';

export class StorageError extends CocosealError<StorageErrorCode> {}
