import { CocosealError } from '../common/errors.js';

/*
 * Stable reason codes in CDH error statuses (cdh.md §2.3, §9 #2): upstream answers only
 * `[CDH] [ERROR]: Unseal Secret failed`; we keep that prefix and code 13 and append
 * `: <REASON>: <detail>` so callers can tell failures apart. Details never carry plaintext.
 */

export const REASONS = [
  'BAD_FORMAT',
  'SIGNATURE_INVALID',
  'KID_UNKNOWN',
  'KID_INVALID',
  'KEY_INVALID',
  'ALG_UNSUPPORTED',
  'VERSION_UNSUPPORTED',
  'PROVIDER_UNSUPPORTED',
  'DECRYPT_FAILED',
  'RESOURCE_URI_INVALID',
  'KBS_UNREACHABLE',
  'ATTESTATION_FAILED',
  'POLICY_DENIED',
  'RESOURCE_NOT_FOUND',
  'KMS_FAILED',
  'INTERNAL',
] as const;

export type ReasonCode = (typeof REASONS)[number];

const KNOWN = new Set<string>(REASONS);

export function reasonOf(e: unknown): ReasonCode {
  if (e instanceof CocosealError) {
    if (KNOWN.has(e.code)) return e.code as ReasonCode;
    if (e.code === 'CREDENTIAL_MISSING') return 'KMS_FAILED';
    if (e.code === 'BASE64_INVALID' || e.code === 'JSON_INVALID') return 'BAD_FORMAT';
  }
  return 'INTERNAL';
}

/** `<REASON>: <detail>` for a status message; internal errors get no detail (it could be anything). */
export function describeReason(e: unknown): string {
  const reason = reasonOf(e);
  if (reason === 'INTERNAL' || !(e instanceof CocosealError))
    return 'INTERNAL: unexpected error (see the CDH log)';
  return `${reason}: ${e.message}`;
}
