import { KmsError } from '../errors.js';

/** Plain words for the return values a user can act on; the CKR_ name is kept alongside. */
const WORDS: Record<string, string> = {
  CKR_PIN_INCORRECT: 'PIN incorrect',
  CKR_PIN_LOCKED: 'PIN locked',
  CKR_PIN_EXPIRED: 'PIN expired',
  CKR_PIN_LEN_RANGE: 'PIN incorrect (bad length)',
  CKR_USER_PIN_NOT_INITIALIZED: 'the user PIN of the token is not initialised',
  CKR_TOKEN_NOT_PRESENT: 'token not present',
  CKR_TOKEN_NOT_RECOGNIZED: 'token not recognised',
  CKR_DEVICE_REMOVED: 'token removed',
  CKR_DEVICE_ERROR: 'device error',
  CKR_MECHANISM_INVALID: 'mechanism not supported by the token',
  CKR_KEY_FUNCTION_NOT_PERMITTED:
    'the key does not allow this operation (CKA_WRAP/CKA_UNWRAP/CKA_ENCRYPT/CKA_DECRYPT)',
  CKR_KEY_TYPE_INCONSISTENT: 'the key is not an AES key',
  CKR_WRAPPED_KEY_INVALID: 'wrapped key rejected (wrong key or tampered data)',
  CKR_WRAPPED_KEY_LEN_RANGE: 'wrapped key rejected (bad length)',
  CKR_ENCRYPTED_DATA_INVALID: 'wrapped key rejected (wrong key or tampered data)',
  CKR_ENCRYPTED_DATA_LEN_RANGE: 'wrapped key rejected (bad length)',
  CKR_SESSION_COUNT: 'the token has no free session',
};

/** `CKR_X (words)` for a pkcs11js error, or the message of any other error. */
export function describePkcs11Error(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const name = /CKR_[A-Z0-9_]+/.exec(msg)?.[0];
  if (!name) return msg;
  const words = WORDS[name];
  return words ? `${words} (${name})` : name;
}

/** The return-value name (`CKR_...`) of a pkcs11js error, if it is one. */
export function ckrName(e: unknown): string | undefined {
  const msg = e instanceof Error ? e.message : String(e);
  return /CKR_[A-Z0-9_]+/.exec(msg)?.[0];
}

export function pkcs11Failed(message: string, cause?: unknown): KmsError {
  return new KmsError('KMS_FAILED', message, { provider: 'pkcs11', cause });
}
