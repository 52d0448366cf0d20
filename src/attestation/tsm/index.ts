export {
  detectTsmAttester,
  type TdxEvidenceJson,
  type TsmAttesterOptions,
  TsmSnpAttester,
  TsmTdxAttester,
} from './attester.js';
export { ccelLogLength, parseCcelTable, readCcEventLog } from './ccel.js';
export {
  configfsOps,
  DEFAULT_TSM_REPORT_DIR,
  type TsmFsOps,
  type TsmProvider,
  TsmReports,
} from './configfs.js';
