import { StorageError } from './errors.js';

/*
 * Key grammar (kbs-protocol.md §10). Upstream only checks the character set [A-Za-z0-9._/-]; we also
 * refuse keys that start with `.` or `/` and namespaces with empty, `.` or `..` segments, so that no
 * key can name a parent directory in the LocalFs layout or alias another key after normalisation.
 * Every backend calls these before touching data, so all backends accept exactly the same keys.
 */

const KEY_CHARS = /^[A-Za-z0-9._/-]+$/;
/** Upper bound on key length: far above any resource path, below file-name limits once flattened. */
export const MAX_KEY_LENGTH = 200;

export function checkNamespace(namespace: string): void {
  if (typeof namespace !== 'string' || namespace.length === 0 || namespace.length > MAX_KEY_LENGTH) {
    throw new StorageError('INVALID_KEY', 'storage namespace must be 1..200 characters');
  }
  if (!KEY_CHARS.test(namespace)) {
    throw new StorageError(
      'INVALID_KEY',
      `storage namespace ${JSON.stringify(namespace)} has characters outside [A-Za-z0-9._/-]`,
    );
  }
  for (const seg of namespace.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') {
      throw new StorageError(
        'INVALID_KEY',
        `storage namespace ${JSON.stringify(namespace)} has an empty, "." or ".." segment`,
      );
    }
  }
}

export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new StorageError('INVALID_KEY', `storage key must be 1..${MAX_KEY_LENGTH} characters`);
  }
  if (!KEY_CHARS.test(key)) {
    throw new StorageError(
      'INVALID_KEY',
      `storage key ${JSON.stringify(key)} has characters outside [A-Za-z0-9._/-]`,
    );
  }
  if (key.startsWith('.') || key.startsWith('/')) {
    throw new StorageError(
      'INVALID_KEY',
      `storage key ${JSON.stringify(key)} must not start with "." or "/"`,
    );
  }
}

/** A list prefix may be empty; otherwise it uses the key character set. */
export function checkPrefix(prefix: string): void {
  if (
    typeof prefix !== 'string' ||
    prefix.length > MAX_KEY_LENGTH ||
    (prefix !== '' && !KEY_CHARS.test(prefix))
  ) {
    throw new StorageError('INVALID_KEY', 'storage list prefix has characters outside [A-Za-z0-9._/-]');
  }
}

/**
 * Exclusive upper bound for a range scan over keys starting with `prefix`: every valid key character
 * is below U+007F, so `prefix + "\x7f"` sorts after every valid key with that prefix (byte order,
 * which is SQLite BINARY and PostgreSQL COLLATE "C").
 */
export function prefixUpperBound(prefix: string): string {
  return `${prefix}\x7f`;
}

export function checkValue(value: Uint8Array): void {
  if (!(value instanceof Uint8Array)) {
    throw new StorageError('INVALID_KEY', 'storage value must be a Uint8Array');
  }
}

export function isValidKey(key: string): boolean {
  try {
    checkKey(key);
    return true;
  } catch {
    return false;
  }
}

export function isValidNamespace(namespace: string): boolean {
  try {
    checkNamespace(namespace);
    return true;
  } catch {
    return false;
  }
}
