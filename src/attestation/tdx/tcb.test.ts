import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AttestationError } from '../errors.js';
import type { IsvLevel, TcbInfo, TcbLevel, TcbStatusString } from './collateral.js';
import type { TdReportBody } from './quote.js';
import { evaluateTcb, isvStatus, selectTdxModule, type TcbInputs } from './tcb.js';

/*
 * TCB level matching and status merging (tee-evidence.md §2.8) on hand-made TCB info, covering the
 * statuses the recorded samples cannot reach.
 */

const d = (s: string) => new Date(s);
const level = (
  sgx: number,
  pce: number,
  tdx: number[],
  status: TcbStatusString,
  advisories: string[] = [],
): TcbLevel => ({
  sgxComponents: Array(16).fill(sgx),
  pceSvn: pce,
  tdxComponents: [...tdx, ...Array(16 - tdx.length).fill(0)],
  tcbDate: d('2024-01-01T00:00:00Z'),
  tcbStatus: status,
  advisoryIds: advisories,
});
const isv = (svn: number, status: TcbStatusString, advisories: string[] = []): IsvLevel => ({
  isvSvn: svn,
  tcbDate: d('2023-06-01T00:00:00Z'),
  tcbStatus: status,
  advisoryIds: advisories,
});

const zero48 = Buffer.alloc(48);
function body(tee: number[], tee2?: number[]): TdReportBody {
  const b = (n: number) => new Uint8Array(n);
  const svn = new Uint8Array(16);
  svn.set(tee);
  const out: TdReportBody = {
    teeTcbSvn: svn,
    mrSeam: b(48),
    mrSignerSeam: b(48),
    seamAttributes: b(8),
    tdAttributes: b(8),
    xfam: b(8),
    mrTd: b(48),
    mrConfigId: b(48),
    mrOwner: b(48),
    mrOwnerConfig: b(48),
    rtmr: [b(48), b(48), b(48), b(48)],
    reportData: b(64),
  };
  if (tee2) {
    out.teeTcbSvn2 = new Uint8Array(16);
    out.teeTcbSvn2.set(tee2);
    out.mrServiceTd = b(48);
  }
  return out;
}

const moduleFields = { mrSigner: zero48, attributes: Buffer.alloc(8), attributesMask: Buffer.alloc(8, 0xff) };
function info(
  levels: TcbLevel[],
  moduleLevels: IsvLevel[] = [isv(5, 'UpToDate'), isv(2, 'OutOfDate')],
): TcbInfo {
  return {
    id: 'TDX',
    version: 3,
    issueDate: d('2024-01-01T00:00:00Z'),
    nextUpdate: d('2024-02-01T00:00:00Z'),
    fmspc: '00906ed50000',
    pceId: '0000',
    tcbType: 0,
    tcbEvaluationDataNumber: 17,
    tdxModule: moduleFields,
    tdxModuleIdentities: [{ id: 'TDX_03', ...moduleFields, tcbLevels: moduleLevels }],
    tcbLevels: levels,
  };
}

function run(x: Partial<TcbInputs> & { info: TcbInfo; body: TdReportBody }) {
  const module = selectTdxModule(x.body, x.info);
  return evaluateTcb({
    bodyType: 2,
    sgxComponents: Array(16).fill(3),
    pceSvn: 11,
    qe: { status: 'UpToDate', level: isv(4, 'UpToDate') },
    module,
    ...x,
  });
}

describe('TDX TCB evaluation', () => {
  const levels = [
    level(3, 13, [0, 0, 5], 'UpToDate'),
    level(3, 5, [0, 0, 2], 'SWHardeningNeeded', ['INTEL-SA-00001']),
    level(2, 5, [0, 0, 1], 'ConfigurationNeeded'),
    level(1, 1, [0, 0, 0], 'Revoked'),
  ];

  test('PCESVN below the first level falls to the next; module version starts the TDX comparison at 2', () => {
    const r = run({ info: info(levels), body: body([5, 3, 3]) });
    assert.equal(r.status, 'SWHardeningNeeded');
    assert.deepEqual(r.advisoryIds, ['INTEL-SA-00001']);
    assert.equal(r.moduleId, 'TDX_03');
    assert.equal(r.moduleStatus, 'UpToDate');
    assert.equal(r.tcbDate?.toISOString(), '2023-06-01T00:00:00.000Z');
  });

  test('without a module version all 16 TDX components count', () => {
    const r = run({ info: info(levels), body: body([0, 0, 5]), pceSvn: 13 });
    assert.equal(r.status, 'UpToDate');
    assert.equal(r.moduleStatus, undefined);
    const low = run({
      info: info(levels),
      body: body([0, 0, 1]),
      pceSvn: 13,
      sgxComponents: Array(16).fill(2),
    });
    assert.equal(low.status, 'ConfigurationNeeded');
  });

  test('no SGX match, or no TDX match among SGX matches, is TcbNotSupported', () => {
    assert.equal(
      run({ info: info(levels), body: body([5, 3, 3]), sgxComponents: Array(16).fill(0) }).status,
      'TcbNotSupported',
    );
    assert.equal(run({ info: info(levels.slice(0, 2)), body: body([0, 0, 1]) }).status, 'TcbNotSupported');
  });

  test('a Revoked level is Revoked', () => {
    assert.equal(
      run({ info: info(levels), body: body([0, 0, 0]), sgxComponents: Array(16).fill(1), pceSvn: 1 }).status,
      'Revoked',
    );
  });

  test('module OutOfDate lowers the level status; module Revoked or unknown SVN is terminal', () => {
    const at = (svn: number, lv = levels) =>
      run({ info: info(lv), body: body([svn, 3, 5]), pceSvn: 13 }).status;
    assert.equal(at(5), 'UpToDate');
    assert.equal(at(3), 'OutOfDate');
    assert.equal(at(1), 'TcbNotSupported');
    const cfg = [level(3, 5, [0, 0, 0], 'ConfigurationAndSWHardeningNeeded')];
    assert.equal(at(3, cfg), 'OutOfDateConfigurationNeeded');
    const revoked = info(levels, [isv(5, 'UpToDate'), isv(2, 'Revoked')]);
    assert.equal(run({ info: revoked, body: body([3, 3, 5]), pceSvn: 13 }).status, 'Revoked');
  });

  test('QE status merges: OutOfDate lowers, Revoked and NotSupported are terminal', () => {
    const b = body([5, 3, 5]);
    const x = { info: info(levels), body: b, pceSvn: 13 };
    assert.equal(run({ ...x, qe: { status: 'OutOfDate', level: isv(2, 'OutOfDate') } }).status, 'OutOfDate');
    assert.equal(run({ ...x, qe: { status: 'Revoked' } }).status, 'Revoked');
    assert.equal(run({ ...x, qe: { status: 'NotSupported' } }).status, 'TcbNotSupported');
    const cfg = [level(3, 5, [0, 0, 0], 'ConfigurationNeeded')];
    assert.equal(
      run({ info: info(cfg), body: b, qe: { status: 'OutOfDate', level: isv(2, 'OutOfDate') } }).status,
      'OutOfDateConfigurationNeeded',
    );
  });

  test('TDX 1.5: a current platform with an out-of-date TD is TDRelaunchAdvised when TEE_TCB_SVN2 is current', () => {
    const lv = [level(3, 5, [0, 0, 5], 'UpToDate'), level(3, 5, [0, 0, 2], 'OutOfDate')];
    // SGX matches the first level (UpToDate); TDX only the second (OutOfDate); module SVN 3 is OutOfDate.
    const x = { info: info(lv), bodyType: 3 as const };
    assert.equal(run({ ...x, body: body([3, 3, 2], [5, 3, 5]) }).status, 'TDRelaunchAdvised');
    assert.equal(run({ ...x, body: body([3, 3, 2], [4, 3, 5]) }).status, 'OutOfDate');
    assert.equal(run({ ...x, body: body([3, 3, 2], [5, 3, 5]), bodyType: 2 }).status, 'OutOfDate');
    const cfg = [
      level(3, 5, [0, 0, 5], 'ConfigurationNeeded'),
      level(3, 5, [0, 0, 2], 'OutOfDateConfigurationNeeded'),
    ];
    assert.equal(
      run({ info: info(cfg), bodyType: 3, body: body([3, 3, 2], [5, 3, 5]) }).status,
      'TDRelaunchAdvisedConfigurationNeeded',
    );
  });

  test('module identity: unknown version, foreign MRSIGNERSEAM and SEAMATTRIBUTES are TCB_MISMATCH', () => {
    const i = info(levels);
    const expectMismatch = (b: TdReportBody) =>
      assert.throws(
        () => selectTdxModule(b, i),
        (e: AttestationError) => e.code === 'TCB_MISMATCH',
      );
    expectMismatch(body([5, 4, 5]));
    const signer = body([5, 3, 5]);
    signer.mrSignerSeam[0] = 1;
    expectMismatch(signer);
    const attrs = body([5, 0, 5]);
    attrs.seamAttributes[7] = 0x80;
    expectMismatch(attrs);
  });

  test('ISV levels: first level at or below the SVN, else NotSupported', () => {
    const lv = [isv(8, 'UpToDate'), isv(6, 'OutOfDate')];
    assert.equal(isvStatus(lv, 9).status, 'UpToDate');
    assert.equal(isvStatus(lv, 7).status, 'OutOfDate');
    assert.equal(isvStatus(lv, 5).status, 'NotSupported');
  });
});
