import { AttestationError } from '../errors.js';
import type { IsvLevel, QeIdentity, TcbInfo, TcbLevel, TcbStatusString, TdxModule } from './collateral.js';
import type { QeReport, TdReportBody } from './quote.js';

/*
 * TCB evaluation (tee-evidence.md §2.7 steps 7, 10, 12 and §2.8), as pure functions of the parsed
 * quote, the PCK extensions and already-verified collateral. Names follow Intel's QVL.
 */

/** Final statuses: the eight Trustee accepts, plus the two terminal ones. */
export type TdxTcbStatus =
  | 'UpToDate'
  | 'SWHardeningNeeded'
  | 'ConfigurationNeeded'
  | 'ConfigurationAndSWHardeningNeeded'
  | 'OutOfDate'
  | 'OutOfDateConfigurationNeeded'
  | 'TDRelaunchAdvised'
  | 'TDRelaunchAdvisedConfigurationNeeded'
  | 'Revoked'
  | 'TcbNotSupported';

/** Statuses Trustee accepts (everything that is not terminal); policy decides among them. */
export const NON_TERMINAL_STATUSES: readonly TdxTcbStatus[] = [
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'TDRelaunchAdvised',
  'TDRelaunchAdvisedConfigurationNeeded',
];

export type IsvStatus = TcbStatusString | 'NotSupported';

export interface TcbEvaluation {
  status: TdxTcbStatus;
  /** The TCB level that matched both SGX and TDX components (absent when none did). */
  level?: TcbLevel;
  /** Status of the first level matching on SGX components only. */
  sgxStatus?: TcbStatusString;
  qeStatus: IsvStatus;
  qeLevel?: IsvLevel;
  /** Undefined when TEE_TCB_SVN[1] is 0 (no module identity applies). */
  moduleStatus?: IsvStatus;
  moduleLevel?: IsvLevel;
  moduleId?: string;
  advisoryIds: string[];
  /** Earliest tcbDate among the matched TCB level, QE level and module level. */
  tcbDate?: Date;
}

function hexOf(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

function and(a: Uint8Array, mask: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] & (mask[i] ?? 0);
  return out;
}

/** First level (in document order: highest first) with isvsvn ≤ `svn`. */
export function isvStatus(levels: IsvLevel[], svn: number): { status: IsvStatus; level?: IsvLevel } {
  const level = levels.find((l) => l.isvSvn <= svn);
  return level ? { status: level.tcbStatus, level } : { status: 'NotSupported' };
}

/**
 * QE identity match [4.1.2.4.15]: MRSIGNER, ISVPRODID, masked MISCSELECT and ATTRIBUTES. A mismatch
 * is terminal (TCB_MISMATCH). Returns the QE TCB status from its ISVSVN.
 */
export function checkQeIdentity(qe: QeReport, id: QeIdentity): { status: IsvStatus; level?: IsvLevel } {
  const fail = (what: string) =>
    new AttestationError(
      'TCB_MISMATCH',
      `QE identity mismatch: ${what} of the quoting enclave does not match the TD_QE identity`,
    );
  if (!Buffer.from(qe.mrSigner).equals(id.mrSigner)) throw fail('MRSIGNER');
  if (qe.isvProdId !== id.isvProdId) throw fail('ISVPRODID');
  if ((qe.miscSelect & id.miscselectMask) >>> 0 !== id.miscselect >>> 0) throw fail('MISCSELECT');
  if (!and(qe.attributes, id.attributesMask).equals(id.attributes)) throw fail('ATTRIBUTES');
  return isvStatus(id.tcbLevels, qe.isvSvn);
}

/**
 * TDX module identity [4.1.2.4.11]: with TEE_TCB_SVN[1] > 0 the entry `TDX_<hex>` of
 * tdxModuleIdentities applies, otherwise `tdxModule`. MRSIGNERSEAM must equal its mrsigner, and
 * SEAMATTRIBUTES must be zero and match its masked attributes. Terminal on mismatch.
 */
export function selectTdxModule(
  body: TdReportBody,
  info: TcbInfo,
): { module: TdxModule; id?: string; levels?: IsvLevel[] } {
  const version = body.teeTcbSvn[1];
  let module: TdxModule | undefined;
  let id: string | undefined;
  let levels: IsvLevel[] | undefined;
  if (version > 0) {
    id = `TDX_${version.toString(16).padStart(2, '0').toUpperCase()}`;
    const identity = info.tdxModuleIdentities.find((m) => m.id.toUpperCase() === id);
    if (!identity) {
      throw new AttestationError(
        'TCB_MISMATCH',
        `TDX module mismatch: the TCB info has no module identity ${id} (TEE_TCB_SVN[1] = ${version})`,
      );
    }
    module = identity;
    levels = identity.tcbLevels;
  } else {
    module = info.tdxModule;
    if (!module) throw new AttestationError('COLLATERAL_INVALID', 'TCB info has no tdxModule');
  }
  if (!Buffer.from(body.mrSignerSeam).equals(module.mrSigner)) {
    throw new AttestationError(
      'TCB_MISMATCH',
      `TDX module mismatch: MRSIGNERSEAM ${hexOf(body.mrSignerSeam)} is not the expected ${hexOf(module.mrSigner)}`,
    );
  }
  if (
    body.seamAttributes.some((b) => b !== 0) ||
    !and(body.seamAttributes, module.attributesMask).equals(module.attributes)
  ) {
    throw new AttestationError(
      'TCB_MISMATCH',
      `TDX module mismatch: SEAMATTRIBUTES ${hexOf(body.seamAttributes)} is not allowed`,
    );
  }
  return { module, id, levels };
}

function sgxMatches(level: TcbLevel, sgx: number[], pceSvn: number): boolean {
  for (let i = 0; i < 16; i++) if (sgx[i] < level.sgxComponents[i]) return false;
  return pceSvn >= level.pceSvn;
}

function tdxMatches(level: TcbLevel, teeTcbSvn: Uint8Array): boolean {
  if (level.tdxComponents.length !== 16) return false;
  // With a module version (TEE_TCB_SVN[1] > 0) bytes 0..1 are judged by the module identity.
  const start = teeTcbSvn[1] > 0 ? 2 : 0;
  for (let i = start; i < 16; i++) if (teeTcbSvn[i] < level.tdxComponents[i]) return false;
  return true;
}

/** OutOfDate of the QE or module lowers a level status (§2.8 merge rules). */
function mergeOutOfDate(s: TdxTcbStatus): TdxTcbStatus {
  if (s === 'UpToDate' || s === 'SWHardeningNeeded') return 'OutOfDate';
  if (s === 'ConfigurationNeeded' || s === 'ConfigurationAndSWHardeningNeeded')
    return 'OutOfDateConfigurationNeeded';
  return s;
}

function union(...lists: (string[] | undefined)[]): string[] {
  const out: string[] = [];
  for (const l of lists) for (const a of l ?? []) if (!out.includes(a)) out.push(a);
  return out;
}

export interface TcbInputs {
  body: TdReportBody;
  bodyType: 2 | 3;
  sgxComponents: number[];
  pceSvn: number;
  info: TcbInfo;
  qe: { status: IsvStatus; level?: IsvLevel };
  module: { id?: string; levels?: IsvLevel[] };
}

/** TCB level matching and status merging [4.1.2.4.17]. Never throws: terminal results are statuses. */
export function evaluateTcb(x: TcbInputs): TcbEvaluation {
  const tee = x.body.teeTcbSvn;
  const out: TcbEvaluation = {
    status: 'TcbNotSupported',
    qeStatus: x.qe.status,
    qeLevel: x.qe.level,
    advisoryIds: [],
  };

  let sgxLevel: TcbLevel | undefined;
  for (const level of x.info.tcbLevels) {
    if (!sgxMatches(level, x.sgxComponents, x.pceSvn)) continue;
    sgxLevel ??= level;
    if (tdxMatches(level, tee)) {
      out.level = level;
      break;
    }
  }
  out.sgxStatus = sgxLevel?.tcbStatus;
  if (!out.level) return out;

  let status: TdxTcbStatus = out.level.tcbStatus;
  if (x.module.id) {
    out.moduleId = x.module.id;
    const m = isvStatus(x.module.levels ?? [], tee[0]);
    out.moduleStatus = m.status;
    out.moduleLevel = m.level;
    if (m.status === 'NotSupported') status = 'TcbNotSupported';
    else if (m.status === 'Revoked') status = 'Revoked';
    else if (m.status === 'OutOfDate' || m.status === 'OutOfDateConfigurationNeeded')
      status = mergeOutOfDate(status);
  }

  if (status !== 'TcbNotSupported' && status !== 'Revoked') {
    if (x.qe.status === 'NotSupported') status = 'TcbNotSupported';
    else if (x.qe.status === 'Revoked') status = 'Revoked';
    else if (x.qe.status === 'OutOfDate' || x.qe.status === 'OutOfDateConfigurationNeeded')
      status = mergeOutOfDate(status);
  }

  // TDX 1.5 TD-preserving update: the platform is current, only this TD predates the module update.
  const relaunchCandidate =
    x.bodyType === 3 &&
    x.qe.status === 'UpToDate' &&
    (out.sgxStatus === 'UpToDate' ||
      out.sgxStatus === 'SWHardeningNeeded' ||
      out.sgxStatus?.startsWith('Configuration')) &&
    (out.level.tcbStatus === 'OutOfDate' || out.level.tcbStatus === 'OutOfDateConfigurationNeeded') &&
    out.moduleStatus === 'OutOfDate';
  if (relaunchCandidate && x.body.teeTcbSvn2) {
    const newestModule = x.module.levels?.[0];
    const newestLevel = x.info.tcbLevels[0];
    const svn2 = x.body.teeTcbSvn2;
    if (
      newestModule &&
      newestLevel &&
      svn2[0] >= newestModule.isvSvn &&
      svn2[2] >= (newestLevel.tdxComponents[2] ?? 0)
    ) {
      const config =
        out.level.tcbStatus === 'OutOfDateConfigurationNeeded' ||
        (out.sgxStatus?.startsWith('Configuration') ?? false);
      status = config ? 'TDRelaunchAdvisedConfigurationNeeded' : 'TDRelaunchAdvised';
    }
  }

  out.status = status;
  out.advisoryIds = union(out.level.advisoryIds, out.moduleLevel?.advisoryIds, out.qeLevel?.advisoryIds);
  const dates = [out.level.tcbDate, out.qeLevel?.tcbDate, out.moduleLevel?.tcbDate].filter(
    (d): d is Date => !!d,
  );
  out.tcbDate = new Date(Math.min(...dates.map((d) => d.getTime())));
  return out;
}
