import { AttestationError } from '../errors.js';
import { rawJsonMember } from './json-raw.js';

/*
 * DCAP collateral for TDX (tee-evidence.md §2.6): the signed TCB info and TD-QE identity with their
 * issuer chain, the PCK CRL with its issuer chain, and the root CA CRL. This file holds the raw
 * form (exact signed bytes) and the typed view of the two JSON documents; loading from disk or a
 * PCCS lives in collateral-store.ts / pccs.ts.
 */

/** A signed JSON document: the exact signed bytes, the raw 64-byte r ‖ s signature and its chain. */
export interface SignedJson {
  body: Buffer;
  signature: Buffer;
  issuerChainPem: string;
}

/** Collateral as loaded, before any check. */
export interface RawCollateral {
  tcbInfo: SignedJson;
  qeIdentity: SignedJson;
  /** DER. Optional only so that a verifier configured to tolerate its absence can say so. */
  pckCrl?: Buffer;
  pckCrlIssuerChainPem?: string;
  rootCaCrl?: Buffer;
  /** Where it came from, for messages (a path or a URL; never secret). */
  origin: string;
}

export type TcbStatusString =
  | 'UpToDate'
  | 'SWHardeningNeeded'
  | 'ConfigurationNeeded'
  | 'ConfigurationAndSWHardeningNeeded'
  | 'OutOfDate'
  | 'OutOfDateConfigurationNeeded'
  | 'Revoked';

const LEVEL_STATUSES: ReadonlySet<string> = new Set<TcbStatusString>([
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'Revoked',
]);

export interface TcbLevel {
  sgxComponents: number[];
  pceSvn: number;
  tdxComponents: number[];
  tcbDate: Date;
  tcbStatus: TcbStatusString;
  advisoryIds: string[];
}

export interface IsvLevel {
  isvSvn: number;
  tcbDate: Date;
  tcbStatus: TcbStatusString;
  advisoryIds: string[];
}

export interface TdxModule {
  mrSigner: Buffer;
  attributes: Buffer;
  attributesMask: Buffer;
}

export interface TdxModuleIdentity extends TdxModule {
  id: string;
  tcbLevels: IsvLevel[];
}

export interface TcbInfo {
  id: string;
  version: number;
  issueDate: Date;
  nextUpdate: Date;
  fmspc: string;
  pceId: string;
  tcbType: number;
  tcbEvaluationDataNumber: number;
  tdxModule?: TdxModule;
  tdxModuleIdentities: TdxModuleIdentity[];
  tcbLevels: TcbLevel[];
}

export interface QeIdentity {
  id: string;
  version: number;
  issueDate: Date;
  nextUpdate: Date;
  tcbEvaluationDataNumber: number;
  miscselect: number;
  miscselectMask: number;
  attributes: Buffer;
  attributesMask: Buffer;
  mrSigner: Buffer;
  isvProdId: number;
  tcbLevels: IsvLevel[];
}

class Invalid extends Error {}

type Json = Record<string, unknown>;

function obj(v: unknown, path: string): Json {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Invalid(`${path} is not an object`);
  return v as Json;
}

function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) throw new Invalid(`${path} is not a list`);
  return v;
}

function int(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new Invalid(`${path} is not an unsigned integer`);
  return v;
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string') throw new Invalid(`${path} is not a string`);
  return v;
}

function hex(v: unknown, path: string, bytes?: number): Buffer {
  const s = str(v, path);
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(s)) throw new Invalid(`${path} is not hex`);
  const b = Buffer.from(s, 'hex');
  if (bytes !== undefined && b.length !== bytes) throw new Invalid(`${path} is not ${bytes} bytes`);
  return b as Buffer;
}

function date(v: unknown, path: string): Date {
  const s = str(v, path);
  // Intel writes RFC 3339 UTC ("2025-06-19T10:16:03Z"); refuse anything Date would guess at.
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})$/.test(s)) {
    throw new Invalid(`${path} is not an RFC 3339 time`);
  }
  const d = new Date(s);
  if (Number.isNaN(d.getTime())) throw new Invalid(`${path} is not a valid time`);
  return d;
}

function status(v: unknown, path: string): TcbStatusString {
  const s = str(v, path);
  if (!LEVEL_STATUSES.has(s)) throw new Invalid(`${path} "${s}" is not a known TCB status`);
  return s as TcbStatusString;
}

function advisories(v: unknown, path: string): string[] {
  if (v === undefined) return [];
  return arr(v, path).map((x, i) => str(x, `${path}[${i}]`));
}

function components(v: unknown, path: string): number[] {
  const list = arr(v, path);
  if (list.length !== 16) throw new Invalid(`${path} has ${list.length} entries, expected 16`);
  return list.map((c, i) => int(obj(c, `${path}[${i}]`).svn, `${path}[${i}].svn`));
}

function isvLevels(v: unknown, path: string): IsvLevel[] {
  return arr(v, path).map((l, i) => {
    const p = `${path}[${i}]`;
    const level = obj(l, p);
    return {
      isvSvn: int(obj(level.tcb, `${p}.tcb`).isvsvn, `${p}.tcb.isvsvn`),
      tcbDate: date(level.tcbDate, `${p}.tcbDate`),
      tcbStatus: status(level.tcbStatus, `${p}.tcbStatus`),
      advisoryIds: advisories(level.advisoryIDs, `${p}.advisoryIDs`),
    };
  });
}

function moduleOf(v: unknown, path: string): TdxModule {
  const m = obj(v, path);
  return {
    mrSigner: hex(m.mrsigner, `${path}.mrsigner`, 48),
    attributes: hex(m.attributes, `${path}.attributes`, 8),
    attributesMask: hex(m.attributesMask, `${path}.attributesMask`, 8),
  };
}

function parseJsonBody(body: Buffer, what: string): Json {
  try {
    return obj(JSON.parse(body.toString('utf8')), what);
  } catch (e) {
    throw new AttestationError('COLLATERAL_INVALID', `${what}: not valid JSON (${(e as Error).message})`);
  }
}

function wrap<T>(what: string, origin: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof Invalid) {
      throw new AttestationError('COLLATERAL_INVALID', `${what} from ${origin}: ${e.message}`);
    }
    throw e;
  }
}

/** Typed view of the signed TCB info bytes. Throws COLLATERAL_INVALID on a schema violation. */
export function parseTcbInfo(body: Buffer, origin = 'collateral'): TcbInfo {
  const j = parseJsonBody(body, `TCB info from ${origin}`);
  return wrap('TCB info', origin, () => {
    const info: TcbInfo = {
      id: str(j.id, 'id'),
      version: int(j.version, 'version'),
      issueDate: date(j.issueDate, 'issueDate'),
      nextUpdate: date(j.nextUpdate, 'nextUpdate'),
      fmspc: hex(j.fmspc, 'fmspc', 6).toString('hex'),
      pceId: hex(j.pceId, 'pceId', 2).toString('hex'),
      tcbType: int(j.tcbType, 'tcbType'),
      tcbEvaluationDataNumber: int(j.tcbEvaluationDataNumber, 'tcbEvaluationDataNumber'),
      tdxModuleIdentities: [],
      tcbLevels: arr(j.tcbLevels, 'tcbLevels').map((l, i) => {
        const p = `tcbLevels[${i}]`;
        const level = obj(l, p);
        const tcb = obj(level.tcb, `${p}.tcb`);
        return {
          sgxComponents: components(tcb.sgxtcbcomponents, `${p}.tcb.sgxtcbcomponents`),
          pceSvn: int(tcb.pcesvn, `${p}.tcb.pcesvn`),
          // Absent only in SGX TCB info, which the id/version checks reject later.
          tdxComponents:
            tcb.tdxtcbcomponents === undefined
              ? []
              : components(tcb.tdxtcbcomponents, `${p}.tcb.tdxtcbcomponents`),
          tcbDate: date(level.tcbDate, `${p}.tcbDate`),
          tcbStatus: status(level.tcbStatus, `${p}.tcbStatus`),
          advisoryIds: advisories(level.advisoryIDs, `${p}.advisoryIDs`),
        };
      }),
    };
    if (j.tdxModule !== undefined) info.tdxModule = moduleOf(j.tdxModule, 'tdxModule');
    if (j.tdxModuleIdentities !== undefined) {
      info.tdxModuleIdentities = arr(j.tdxModuleIdentities, 'tdxModuleIdentities').map((m, i) => {
        const p = `tdxModuleIdentities[${i}]`;
        const o = obj(m, p);
        return {
          id: str(o.id, `${p}.id`),
          ...moduleOf(o, p),
          tcbLevels: isvLevels(o.tcbLevels, `${p}.tcbLevels`),
        };
      });
    }
    return info;
  });
}

/** Typed view of the signed QE identity bytes. Throws COLLATERAL_INVALID on a schema violation. */
export function parseQeIdentity(body: Buffer, origin = 'collateral'): QeIdentity {
  const j = parseJsonBody(body, `QE identity from ${origin}`);
  return wrap('QE identity', origin, () => ({
    id: str(j.id, 'id'),
    version: int(j.version, 'version'),
    issueDate: date(j.issueDate, 'issueDate'),
    nextUpdate: date(j.nextUpdate, 'nextUpdate'),
    tcbEvaluationDataNumber: int(j.tcbEvaluationDataNumber, 'tcbEvaluationDataNumber'),
    miscselect: hex(j.miscselect, 'miscselect', 4).readUInt32BE(0),
    miscselectMask: hex(j.miscselectMask, 'miscselectMask', 4).readUInt32BE(0),
    attributes: hex(j.attributes, 'attributes', 16),
    attributesMask: hex(j.attributesMask, 'attributesMask', 16),
    mrSigner: hex(j.mrsigner, 'mrsigner', 32),
    isvProdId: int(j.isvprodid, 'isvprodid'),
    tcbLevels: isvLevels(j.tcbLevels, 'tcbLevels'),
  }));
}

/**
 * Splits a PCS response body `{"tcbInfo": {...}, "signature": "<hex>"}` (or `enclaveIdentity`) into
 * the exact signed bytes and the signature.
 */
export function splitSignedResponse(
  text: Uint8Array,
  member: 'tcbInfo' | 'enclaveIdentity',
  origin: string,
): {
  body: Buffer;
  signature: Buffer;
} {
  let body: Uint8Array | undefined;
  let doc: Json;
  try {
    body = rawJsonMember(text, member);
    doc = JSON.parse(Buffer.from(text).toString('utf8'));
  } catch (e) {
    throw new AttestationError(
      'COLLATERAL_INVALID',
      `${member} response from ${origin}: ${(e as Error).message}`,
    );
  }
  if (body?.[0] !== 0x7b) {
    throw new AttestationError(
      'COLLATERAL_INVALID',
      `${member} response from ${origin} has no "${member}" object`,
    );
  }
  return {
    body: Buffer.from(body as Uint8Array),
    signature: signatureBytes(doc.signature, `${member} signature from ${origin}`),
  };
}

/** A 64-byte raw signature given as hex (PCS, dcap-qvl bundles) or a number list. */
export function signatureBytes(v: unknown, what: string): Buffer {
  let b: Buffer | undefined;
  if (typeof v === 'string' && /^[0-9a-fA-F]+$/.test(v)) b = Buffer.from(v, 'hex');
  else if (Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0 && x < 256)) b = Buffer.from(v);
  if (b?.length !== 64) {
    throw new AttestationError('COLLATERAL_INVALID', `${what}: expected a 64-byte r ‖ s signature`);
  }
  return b as Buffer;
}
