import { CocosealError } from '../common/errors.js';

export type AttestationErrorCode =
  | 'EVIDENCE_MALFORMED'
  | 'CHAIN_INVALID'
  | 'SIGNATURE_INVALID'
  | 'TCB_MISMATCH'
  | 'COLLATERAL_EXPIRED'
  | 'CERT_EXPIRED'
  | 'COLLATERAL_MISSING'
  | 'REVOKED'
  | 'REPORT_DATA_MISMATCH'
  | 'INIT_DATA_MISMATCH'
  | 'VMPL_NOT_ALLOWED'
  | 'VERSION_NOT_ALLOWED'
  | 'EVENT_LOG_MISMATCH'
  | 'TEE_UNSUPPORTED'
  | 'ATTESTER_FAILED'
  | 'COLLATERAL_INVALID';

export class AttestationError extends CocosealError<AttestationErrorCode> {}
