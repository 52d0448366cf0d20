import {
  createHash,
  createPublicKey,
  type KeyObject,
  verify as verifySig,
  type X509Certificate,
} from 'node:crypto';
import { assertNotRevoked, type Crl, checkCrlTime, parseCrl, verifyCrlIssuer } from '../crl.js';
import { AttestationError } from '../errors.js';
import type { Claims, Verifier, VerifyContext } from '../types.js';
import { DigestCache, digestOf } from './cache.js';
import { checkChainTime, clearChainCache, type VerifiedChain, verifyPemChain } from './chain.js';
import { parsedClaims, supplementalClaims } from './claims.js';
import {
  parseQeIdentity,
  parseTcbInfo,
  type QeIdentity,
  type RawCollateral,
  type TcbInfo,
} from './collateral.js';
import { type CollateralQuery, loadCollateral, storeCollateral } from './collateral-store.js';
import { checkRtmrs, eventLogClaims, parseEventLog } from './eventlog.js';
import { decodeTdxEvidence } from './evidence.js';
import { fetchCollateral } from './pccs.js';
import { commonName, type PckInfo, parsePckExtensions } from './pck.js';
import { parseQuote, type TdxQuote } from './quote.js';
import { rootCa, rootKeyId } from './root.js';
import {
  checkQeIdentity,
  evaluateTcb,
  NON_TERMINAL_STATUSES,
  selectTdxModule,
  type TdxTcbStatus,
} from './tcb.js';

/*
 * Intel TDX verifier (DCAP quote v4/v5), tee-evidence.md §2.7. Order of checks:
 *
 *  1. quote integrity: PCK chain to the pinned root, QE report signature by the PCK, QE report data
 *     binding of the attestation key, quote signature;
 *  2. binding: REPORTDATA and MRCONFIGID against the expected values; the event log against RTMR0..3;
 *  3. collateral: TCB Signing chains and signatures, document identity (id, version, FMSPC, PCE-ID),
 *     CRL issuers and signatures, revocation, then validity windows at "now";
 *  4. QE identity, TDX module identity, TCB level → status (terminal ones rejected).
 *
 * Everything that depends only on bytes (chains, CRLs, collateral signatures, PCK extensions) is
 * verified once and cached by digest; validity windows are re-checked on every call.
 */

export interface TdxVerifierOptions {
  /** On-disk collateral cache: a bundle file, or a directory (`<dir>/<fmspc>/…` or a single set). */
  collateralDir?: string;
  /** PCS/PCCS base URL. Never contacted unless set. https, or http to loopback only. */
  pccsUrl?: string;
  pccsUpdateType?: 'early' | 'standard';
  pccsTimeoutMs?: number;
  /** For tests: the fetch implementation used for the PCCS. */
  fetch?: typeof fetch;
  /** Trust anchor PEM. Default: the shipped Intel SGX Root CA (fingerprint-pinned). */
  rootCaPem?: string;
  /**
   * TCB statuses accepted. Default: the eight non-terminal statuses, as Trustee does; the status is
   * in the claims (`tcb_status`) for policy to judge. Revoked and TcbNotSupported are always rejected.
   */
  acceptedTcbStatuses?: readonly TdxTcbStatus[];
  /** Tolerate collateral without a PCK CRL or root CA CRL (revocation then goes unchecked). Default false. */
  allowMissingCrls?: boolean;
  /**
   * When no collateral can be found, verify only the quote, PCK chain, bindings and event log, and
   * emit no DCAP claims (no `tcb_status`). Default false: missing collateral is COLLATERAL_MISSING.
   */
  allowMissingCollateral?: boolean;
}

export interface TdxVerifyContext extends VerifyContext {
  /** Collateral for this verification: a bundle file or a directory (overrides `collateralDir`). */
  collateral?: string;
}

interface PckEntry {
  chain: VerifiedChain;
  info: PckInfo;
  key: KeyObject;
}

interface CollateralEntry {
  tcbInfo: TcbInfo;
  qeIdentity: QeIdentity;
  tcbChain: VerifiedChain;
  qeChain: VerifiedChain;
  rootCrl?: Crl;
  pckCrl?: Crl;
  /** Fingerprints of PCK CAs whose name and signature have been checked against `pckCrl`. */
  pckCrlIssuers: Set<string>;
}

const pckCache = new DigestCache<PckEntry>(512);
const collateralCache = new DigestCache<CollateralEntry>(128);
const attestationKeys = new DigestCache<KeyObject>(1024);

const TCB_SIGNING_CN = 'Intel SGX TCB Signing';

function p1363Valid(key: KeyObject, data: Uint8Array, sig: Uint8Array): boolean {
  try {
    return verifySig('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    return false;
  }
}

function resize(b: Uint8Array, n: number): Buffer {
  const out = Buffer.alloc(n);
  Buffer.from(b).copy(out, 0, 0, Math.min(n, b.length));
  return out;
}

function fingerprint(c: X509Certificate): string {
  return c.fingerprint256;
}

/** §2.7 step 2: the PCK chain, parsed and signature-checked once per distinct chain, time-checked every call. */
function pckOf(quote: TdxQuote, root: X509Certificate, now: Date): PckEntry {
  const key = digestOf(quote.pckChainPem, root.raw);
  const hit = pckCache.get(key);
  if (hit) {
    checkChainTime(hit.chain, now, 'PCK chain');
    return hit;
  }
  const chain = verifyPemChain(quote.pckChainPem, root, now, 'PCK chain', 3);
  const [leaf, intermediate] = chain.certs;
  if (!commonName(leaf).includes('SGX PCK Certificate')) {
    throw new AttestationError(
      'CHAIN_INVALID',
      `PCK chain: leaf "${commonName(leaf)}" is not an SGX PCK certificate`,
    );
  }
  const info = parsePckExtensions(leaf, intermediate);
  const entry = { chain, info, key: leaf.publicKey };
  pckCache.set(key, entry);
  return entry;
}

function attestationKey(raw: Uint8Array): KeyObject {
  return attestationKeys.getOrCompute(Buffer.from(raw).toString('hex'), () => {
    try {
      return createPublicKey({
        key: {
          kty: 'EC',
          crv: 'P-256',
          x: Buffer.from(raw.subarray(0, 32)).toString('base64url'),
          y: Buffer.from(raw.subarray(32, 64)).toString('base64url'),
        },
        format: 'jwk',
      });
    } catch (e) {
      throw new AttestationError('SIGNATURE_INVALID', 'TDX quote: the attestation key is not a P-256 point', {
        cause: e,
      });
    }
  });
}

/** §2.7 steps 8, 9, 11: QE report signature, QE report data binding, quote signature. */
function checkQuoteSignatures(quote: TdxQuote, pck: PckEntry): void {
  if (!p1363Valid(pck.key, quote.qeReport.raw, quote.qeReportSignature)) {
    throw new AttestationError(
      'SIGNATURE_INVALID',
      'TDX quote: the QE report signature does not verify with the PCK',
    );
  }
  const expected = createHash('sha256').update(quote.attestationKey).update(quote.qeAuthData).digest();
  const rd = quote.qeReport.reportData;
  if (!expected.equals(rd.subarray(0, 32)) || rd.subarray(32).some((b) => b !== 0)) {
    throw new AttestationError(
      'SIGNATURE_INVALID',
      'TDX quote: the QE report data does not bind the attestation key (SHA-256(key ‖ QE auth data) ‖ zeros expected)',
    );
  }
  if (!p1363Valid(attestationKey(quote.attestationKey), quote.signedRegion, quote.signature)) {
    throw new AttestationError(
      'SIGNATURE_INVALID',
      'TDX quote: the quote signature does not verify with the attestation key',
    );
  }
}

function checkBindings(quote: TdxQuote, ctx: VerifyContext): void {
  if (ctx.expectedReportData !== undefined) {
    if (!resize(ctx.expectedReportData, 64).equals(quote.body.reportData)) {
      throw new AttestationError(
        'REPORT_DATA_MISMATCH',
        'TDX quote: REPORTDATA is not the expected report data',
      );
    }
  }
  if (ctx.expectedInitDataHash !== undefined) {
    if (!resize(ctx.expectedInitDataHash, 48).equals(quote.body.mrConfigId)) {
      throw new AttestationError('INIT_DATA_MISMATCH', 'TDX quote: MRCONFIGID is not the init-data digest');
    }
  }
}

function signedDocument(body: Buffer, signature: Buffer, chain: VerifiedChain, what: string): void {
  const signer = chain.certs[0];
  if (commonName(signer) !== TCB_SIGNING_CN) {
    throw new AttestationError(
      'CHAIN_INVALID',
      `${what}: signed by "${commonName(signer)}", not "${TCB_SIGNING_CN}"`,
    );
  }
  if (!p1363Valid(signer.publicKey, body, signature)) {
    throw new AttestationError(
      'SIGNATURE_INVALID',
      `${what}: signature does not verify over the served bytes`,
    );
  }
}

/** Digest of the raw collateral bytes; memoized per object (loaders return the same object for the same bytes). */
const rawDigests = new WeakMap<RawCollateral, string>();

function rawDigest(raw: RawCollateral): string {
  let d = rawDigests.get(raw);
  if (!d) {
    d = digestOf(
      raw.tcbInfo.body,
      raw.tcbInfo.signature,
      raw.tcbInfo.issuerChainPem,
      raw.qeIdentity.body,
      raw.qeIdentity.signature,
      raw.qeIdentity.issuerChainPem,
      raw.pckCrl,
      raw.rootCaCrl,
    );
    rawDigests.set(raw, d);
  }
  return d;
}

/** Byte-level collateral checks (chains, signatures, parsing), cached per distinct collateral. */
function verifiedCollateral(raw: RawCollateral, root: X509Certificate, now: Date): CollateralEntry {
  const key = `${rawDigest(raw)}/${root.fingerprint256}`;
  const hit = collateralCache.get(key);
  if (hit) {
    checkChainTime(hit.tcbChain, now, 'TCB info issuer chain');
    checkChainTime(hit.qeChain, now, 'QE identity issuer chain');
    return hit;
  }
  const tcbChain = verifyPemChain(raw.tcbInfo.issuerChainPem, root, now, 'TCB info issuer chain');
  signedDocument(raw.tcbInfo.body, raw.tcbInfo.signature, tcbChain, `TCB info from ${raw.origin}`);
  const qeChain = verifyPemChain(raw.qeIdentity.issuerChainPem, root, now, 'QE identity issuer chain');
  signedDocument(raw.qeIdentity.body, raw.qeIdentity.signature, qeChain, `QE identity from ${raw.origin}`);
  const entry: CollateralEntry = {
    tcbInfo: parseTcbInfo(raw.tcbInfo.body, raw.origin),
    qeIdentity: parseQeIdentity(raw.qeIdentity.body, raw.origin),
    tcbChain,
    qeChain,
    pckCrlIssuers: new Set(),
  };
  if (raw.rootCaCrl) {
    entry.rootCrl = parseCrl(raw.rootCaCrl, `root CA CRL from ${raw.origin}`);
    verifyCrlIssuer(entry.rootCrl, root, 'root CA CRL');
  }
  if (raw.pckCrl) entry.pckCrl = parseCrl(raw.pckCrl, `PCK CRL from ${raw.origin}`);
  collateralCache.set(key, entry);
  return entry;
}

function hexOf(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** Document identity (§2.7 steps 5, 6): which platform and which enclave the collateral describes. */
function checkDocuments(c: CollateralEntry, pck: PckInfo, origin: string): void {
  const t = c.tcbInfo;
  if (t.id !== 'TDX' || t.version < 3) {
    throw new AttestationError(
      'COLLATERAL_INVALID',
      `TCB info from ${origin} is "${t.id}" v${t.version}, not TDX v3 or later`,
    );
  }
  if (t.fmspc !== hexOf(pck.fmspc)) {
    throw new AttestationError(
      'TCB_MISMATCH',
      `TCB info from ${origin} is for FMSPC ${t.fmspc}, but the PCK certificate has FMSPC ${hexOf(pck.fmspc)}`,
    );
  }
  if (t.pceId !== hexOf(pck.pceId)) {
    throw new AttestationError(
      'TCB_MISMATCH',
      `TCB info PCE-ID ${t.pceId} is not the PCK's ${hexOf(pck.pceId)}`,
    );
  }
  const q = c.qeIdentity;
  if (q.id !== 'TD_QE' || q.version !== 2) {
    throw new AttestationError(
      'COLLATERAL_INVALID',
      `QE identity from ${origin} is "${q.id}" v${q.version}, not TD_QE v2`,
    );
  }
}

function checkRevocation(c: CollateralEntry, pck: PckEntry, allowMissing: boolean, origin: string): void {
  const [leaf, intermediate] = pck.chain.certs;
  if (c.rootCrl) {
    assertNotRevoked(c.rootCrl, intermediate, 'root CA CRL');
    assertNotRevoked(c.rootCrl, c.tcbChain.certs[0], 'root CA CRL');
    if (c.qeChain !== c.tcbChain) assertNotRevoked(c.rootCrl, c.qeChain.certs[0], 'root CA CRL');
  } else if (!allowMissing) {
    throw new AttestationError('COLLATERAL_MISSING', `collateral from ${origin} has no root CA CRL`);
  }
  if (c.pckCrl) {
    const fp = fingerprint(intermediate);
    if (!c.pckCrlIssuers.has(fp)) {
      // The CRL must come from the CA that issued this PCK (§2.7 step 4, QVL 4.1.2.4.6).
      verifyCrlIssuer(c.pckCrl, intermediate, 'PCK CRL');
      c.pckCrlIssuers.add(fp);
    }
    assertNotRevoked(c.pckCrl, leaf, 'PCK CRL');
  } else if (!allowMissing) {
    throw new AttestationError(
      'COLLATERAL_MISSING',
      `collateral from ${origin} has no PCK CRL for the ${pck.info.caType} CA`,
    );
  }
}

function checkWindows(c: CollateralEntry, now: Date): void {
  if (c.rootCrl) checkCrlTime(c.rootCrl, now, 'root CA CRL');
  if (c.pckCrl) checkCrlTime(c.pckCrl, now, 'PCK CRL');
  for (const [doc, what] of [
    [c.tcbInfo, 'TCB info'],
    [c.qeIdentity, 'QE identity'],
  ] as const) {
    if (now < doc.issueDate || now > doc.nextUpdate) {
      throw new AttestationError(
        'COLLATERAL_EXPIRED',
        `${what} is not valid at ${now.toISOString()} (issued ${doc.issueDate.toISOString()}, next update ${doc.nextUpdate.toISOString()}); refresh the collateral`,
      );
    }
  }
}

function freshAt(raw: RawCollateral, root: X509Certificate, now: Date): boolean {
  try {
    const c = verifiedCollateral(raw, root, now);
    checkWindows(c, now);
    return true;
  } catch {
    return false;
  }
}

export class TdxVerifier implements Verifier {
  readonly tee = 'tdx' as const;
  private readonly accepted: ReadonlySet<TdxTcbStatus>;
  /** Collateral fetched from the PCCS, per FMSPC and CA type, reused while fresh. */
  private readonly fetched = new Map<string, RawCollateral>();

  constructor(private readonly opts: TdxVerifierOptions = {}) {
    this.accepted = new Set(opts.acceptedTcbStatuses ?? NON_TERMINAL_STATUSES);
    // Fail at construction, not at the first quote, when the trust anchor is unusable.
    rootCa(opts.rootCaPem);
  }

  async verify(evidence: unknown, ctx: TdxVerifyContext = {}): Promise<Claims> {
    const now = ctx.now ?? new Date();
    const root = rootCa(this.opts.rootCaPem);
    const ev = decodeTdxEvidence(evidence);
    const quote = parseQuote(ev.quote);

    const pck = pckOf(quote, root, now);
    checkQuoteSignatures(quote, pck);
    checkBindings(quote, ctx);

    let eventLog: Record<string, unknown>[] | undefined;
    if (ev.ccEventLog) {
      const entries = parseEventLog(ev.ccEventLog);
      checkRtmrs(entries, quote.body.rtmr);
      eventLog = eventLogClaims(entries);
    }
    const claims = parsedClaims(quote, { eventLog, pck: pck.info });

    const q: CollateralQuery = { fmspc: hexOf(pck.info.fmspc), caType: pck.info.caType };
    const found = await this.collateral(q, ctx, root, now);
    if (!found) {
      if (this.opts.allowMissingCollateral) return claims;
      throw new AttestationError(
        'COLLATERAL_MISSING',
        `no TDX collateral for FMSPC ${q.fmspc} (${q.caType} CA): configure a collateral directory or a PCCS URL`,
      );
    }
    const { raw, fromPccs } = found;
    const c = verifiedCollateral(raw, root, now);
    checkDocuments(c, pck.info, raw.origin);
    checkRevocation(c, pck, this.opts.allowMissingCrls === true, raw.origin);
    checkWindows(c, now);
    if (fromPccs) await this.remember(q, raw);

    const qe = checkQeIdentity(quote.qeReport, c.qeIdentity);
    const module = selectTdxModule(quote.body, c.tcbInfo);
    const tcb = evaluateTcb({
      body: quote.body,
      bodyType: quote.bodyType,
      sgxComponents: pck.info.sgxComponents,
      pceSvn: pck.info.pceSvn,
      info: c.tcbInfo,
      qe,
      module,
    });
    if (tcb.status === 'Revoked') {
      throw new AttestationError(
        'REVOKED',
        'TDX TCB status is Revoked (platform, TDX module or QE TCB level revoked)',
      );
    }
    if (tcb.status === 'TcbNotSupported') {
      throw new AttestationError(
        'TCB_MISMATCH',
        `TDX TCB not supported: no TCB level of FMSPC ${q.fmspc} matches (PCK SGX components ${pck.info.sgxComponents.join(',')}, PCESVN ${pck.info.pceSvn}, TEE_TCB_SVN ${hexOf(quote.body.teeTcbSvn)}; QE ${qe.status}${tcb.moduleStatus ? `, module ${tcb.moduleStatus}` : ''})`,
      );
    }
    if (!this.accepted.has(tcb.status)) {
      throw new AttestationError(
        'TCB_MISMATCH',
        `TDX TCB status ${tcb.status} is not accepted by this verifier's configuration`,
      );
    }

    const chains = [pck.chain, c.tcbChain, c.qeChain];
    const crls = [c.rootCrl, c.pckCrl].filter((x): x is Crl => !!x);
    const docs = [c.tcbInfo, c.qeIdentity];
    return {
      ...claims,
      ...supplementalClaims({
        pck: pck.info,
        tcb,
        issueDates: [
          ...chains.flatMap((ch) => ch.notBefore),
          ...crls.map((x) => x.thisUpdate),
          ...docs.map((d) => d.issueDate),
        ],
        expirationDates: [
          ...chains.flatMap((ch) => ch.notAfter),
          ...crls.flatMap((x) => (x.nextUpdate ? [x.nextUpdate] : [])),
          ...docs.map((d) => d.nextUpdate),
        ],
        pckCrlNumber: c.pckCrl?.crlNumber,
        rootCaCrlNumber: c.rootCrl?.crlNumber,
        tcbEvalNumber: Math.min(c.tcbInfo.tcbEvaluationDataNumber, c.qeIdentity.tcbEvaluationDataNumber),
        rootKeyId: rootKeyId(root),
      }),
    };
  }

  /** Collateral source order: the request's path; the cache directory; the PCCS (when configured). */
  private async collateral(
    q: CollateralQuery,
    ctx: TdxVerifyContext,
    root: X509Certificate,
    now: Date,
  ): Promise<{ raw: RawCollateral; fromPccs: boolean } | undefined> {
    if (ctx.collateral !== undefined) {
      const raw = await loadCollateral(ctx.collateral, q);
      if (!raw)
        throw new AttestationError(
          'COLLATERAL_MISSING',
          `no TDX collateral for FMSPC ${q.fmspc} at ${ctx.collateral}`,
        );
      return { raw, fromPccs: false };
    }
    const local = this.opts.collateralDir ? await loadCollateral(this.opts.collateralDir, q) : undefined;
    if (!this.opts.pccsUrl || (local && freshAt(local, root, now)))
      return local && { raw: local, fromPccs: false };
    const key = `${q.fmspc}/${q.caType}`;
    const memo = this.fetched.get(key);
    if (memo && freshAt(memo, root, now)) return { raw: memo, fromPccs: false };
    try {
      const raw = await fetchCollateral(
        {
          url: this.opts.pccsUrl,
          updateType: this.opts.pccsUpdateType,
          timeoutMs: this.opts.pccsTimeoutMs,
          fetch: this.opts.fetch,
        },
        q,
      );
      return { raw, fromPccs: true };
    } catch (e) {
      // Unreachable PCCS: fall back to what is on disk, which then fails on its own terms (e.g. expired).
      const fallback = local ?? memo;
      if (fallback) return { raw: fallback, fromPccs: false };
      throw e;
    }
  }

  /** Keeps collateral fetched from the PCCS (after it verified) in memory and in the cache directory. */
  private async remember(q: CollateralQuery, raw: RawCollateral): Promise<void> {
    this.fetched.set(`${q.fmspc}/${q.caType}`, raw);
    if (this.opts.collateralDir) {
      try {
        await storeCollateral(this.opts.collateralDir, q, raw);
      } catch {
        // A read-only cache directory only costs a refetch later; verification is unaffected.
      }
    }
  }
}

/**
 * One-shot verification, as `kbs verify-evidence --tee tdx` uses it. `evidence` is the Trustee JSON
 * (object or text) or raw quote bytes; `ctx.collateral` names a bundle file or a directory.
 */
export async function verifyTdxEvidence(
  evidence: unknown,
  ctx: TdxVerifyContext = {},
  opts: TdxVerifierOptions = {},
): Promise<Claims> {
  return new TdxVerifier(opts).verify(evidence, ctx);
}

/** For benchmarks and tests: drop every cached chain, PCK and collateral verification. */
export function clearTdxCaches(): void {
  pckCache.clear();
  collateralCache.clear();
  attestationKeys.clear();
  clearChainCache();
}
