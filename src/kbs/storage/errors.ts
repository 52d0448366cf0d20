import { CocosealError } from '../../common/errors.js';

/**
 * - `ALREADY_EXISTS`: `set` with `overwrite: false` on an existing key.
 * - `STORAGE_UNAVAILABLE`: the backend cannot be reached or refused the operation (retry may help).
 * - `STORAGE_CORRUPT`: the backend holds data that cannot be valid (schema from the future, bad rows).
 * - `INVALID_KEY`: a namespace, key or prefix outside the allowed grammar (kbs-protocol.md §10).
 * - `INVALID_CONFIG`: a `[storage_backend]` table or StorageConfig that cannot be used.
 * - `MALFORMED_ENTRY`: an import source holds entries that cannot be imported as they are.
 */
export type StorageErrorCode =
  | 'ALREADY_EXISTS'
  | 'STORAGE_UNAVAILABLE'
  | 'STORAGE_CORRUPT'
  | 'INVALID_KEY'
  | 'INVALID_CONFIG'
  | 'MALFORMED_ENTRY';

export class StorageError extends CocosealError<StorageErrorCode> {}
