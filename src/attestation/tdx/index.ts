/*
 * Intel TDX verifier: public surface. `TdxVerifier` plugs into the KBS as the `tdx` Verifier;
 * `verifyTdxEvidence` is the one-shot form used by `kbs verify-evidence --tee tdx`.
 */
export type { QeIdentity, RawCollateral, TcbInfo } from './collateral.js';
export { loadCollateral, parseBundle, storeCollateral, toBundle } from './collateral-store.js';
export { checkRtmrs, eventLogClaims, parseEventLog, replayRtmrs } from './eventlog.js';
export { decodeTdxEvidence, type TdxEvidence } from './evidence.js';
export { parseQuote, type TdxQuote } from './quote.js';
export { INTEL_SGX_ROOT_CA_SHA256, intelSgxRootCa } from './root.js';
export { NON_TERMINAL_STATUSES, type TdxTcbStatus } from './tcb.js';
export {
  clearTdxCaches,
  TdxVerifier,
  type TdxVerifierOptions,
  type TdxVerifyContext,
  verifyTdxEvidence,
} from './verifier.js';
