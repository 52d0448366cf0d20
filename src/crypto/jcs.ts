import { CryptoError } from './errors.js';

/**
 * RFC 8785 JSON Canonicalization Scheme. Used for the KBS runtime-data binding (kbs-protocol.md §4):
 * members sorted by UTF-16 code units, ECMAScript number and string serialization, no whitespace.
 */
export function canonicalize(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new CryptoError('JSON_INVALID', 'JCS: non-finite number');
      return JSON.stringify(value);
    case 'string':
      return JSON.stringify(value);
    case 'object': {
      if (Array.isArray(value)) return `[${value.map(canonicalize).join(',')}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalize(obj[k])}`).join(',')}}`;
    }
    default:
      throw new CryptoError('JSON_INVALID', `JCS: cannot canonicalize a ${typeof value}`);
  }
}
