import { CocosealError } from '../../common/errors.js';

/**
 * - `INVALID_ENTRY`: an audit entry with an unknown kind/decision or an over-long or multi-line field.
 * - `AUDIT_UNAVAILABLE`: the log could not be read or appended (the caller must fail closed).
 */
export type AuditErrorCode = 'INVALID_ENTRY' | 'AUDIT_UNAVAILABLE';

export class AuditError extends CocosealError<AuditErrorCode> {}
