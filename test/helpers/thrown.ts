import assert from 'node:assert/strict';
import { AttestationError } from '../../src/attestation/errors.js';

/**
 * The `code` of the AttestationError `fn` throws, or undefined when it returns; any other exception
 * fails the test (a verifier must only ever fail with a typed, named check).
 */
export function attestationCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof AttestationError, `unexpected ${String(e)}`);
    return e.code;
  }
  return undefined;
}
