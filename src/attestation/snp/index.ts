export { buildCertTable, parseCertTable } from './cert-table.js';
export { type AmdVekInfo, amdVekInfo, certFromBytes, clearCertCaches, type VekKind } from './certs.js';
export { snpClaims } from './claims.js';
export {
  type CertChainEntry,
  type CertType,
  type ParsedSnpEvidence,
  parseSnpEvidence,
  reportFromJson,
  reportToJson,
  type SnpEvidenceJson,
  snpEvidenceJson,
} from './evidence-json.js';
export { decodeReport, REPORT_SIZE, type SnpProduct, type SnpReport, type TcbVersion } from './report.js';
export { type AmdRoots, defaultRootsDir, loadAmdRoots } from './roots.js';
export { clearVcekMemory, kdsVcekPath } from './vcek-source.js';
export {
  type SnpVerification,
  SnpVerifier,
  type SnpVerifierOptions,
  type SnpVerifyContext,
  verifySnpEvidence,
  verifySnpEvidenceDetailed,
  verifySnpVekChain,
} from './verify.js';
