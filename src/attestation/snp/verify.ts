import { timingSafeEqual, verify as verifySignature } from 'node:crypto';
import { AttestationError } from '../errors.js';
import type { Claims, Verifier, VerifyContext } from '../types.js';
import {
  type AmdVekInfo,
  amdVekInfo,
  type CertInfo,
  certFromBytes,
  checkValidity,
  issuedBy,
  productFromName,
  type VekKind,
} from './certs.js';
import { snpClaims } from './claims.js';
import { type CertChainEntry, parseSnpEvidence } from './evidence-json.js';
import {
  chipKeyMasked,
  decodeReport,
  decodeTcb,
  layoutOf,
  OFFSET,
  SIG_COMPONENT_SIZE,
  SIGNED_LENGTH,
  SIGNING_KEY,
  type SnpProduct,
  type SnpReport,
  signingKeyOf,
  type TcbVersion,
} from './report.js';
import { type AmdRoots, loadAmdRoots } from './roots.js';
import { type FoundVcek, findVcek, rememberVcek, type VcekRequest } from './vcek-source.js';

/*
 * SEV-SNP evidence verification: Trustee's procedure (tee-evidence.md §1.6) in Trustee's order, so
 * the same evidence fails with the same reason, plus the checks upstream omits (validity at an
 * injected time, SIGNATURE_ALGO, KEY_INFO against the certificate kind, chip ID against hwID).
 */

export interface SnpVerifierOptions {
  /** Lowest accepted report version, 2..5. Default 3, as upstream (v2 cannot name its product). */
  minVersion?: number;
  /** VMPLs a report may have been requested at. Default [0], as upstream. */
  allowedVmpls?: readonly number[];
  /** Trustee offline VCEK store, used when the evidence carries no VCEK. */
  vcekCacheDir?: string;
  /** AMD KDS base URL (e.g. https://kdsintf.amd.com). Never contacted unless set. */
  kdsUrl?: string;
  kdsTimeoutMs?: number;
  /** Directory with `<product>_ask_ark_asvk.pem`; default: the roots shipped in assets/snp. */
  rootsDir?: string;
}

export type SnpVerifyContext = VerifyContext & {
  /** A VCEK/VLEK (DER or PEM) supplied out of band; takes precedence over the evidence's. */
  vek?: Uint8Array;
};

export interface SnpVerification {
  claims: Claims;
  product: SnpProduct;
  version: number;
  vmpl: number;
  vekKind: VekKind;
  /** `evidence`, `supplied` (ctx.vek), or the cache file / KDS URL the VCEK came from. */
  vekSource: string;
}

const MAX_VERSION = 5;

interface Settings {
  minVersion: number;
  allowedVmpls: readonly number[];
  opts: SnpVerifierOptions;
}

function settingsOf(opts: SnpVerifierOptions): Settings {
  const minVersion = opts.minVersion ?? 3;
  if (!Number.isInteger(minVersion) || minVersion < 2 || minVersion > MAX_VERSION) {
    throw new AttestationError(
      'VERSION_NOT_ALLOWED',
      `SNP minVersion must be 2..${MAX_VERSION}, got ${minVersion}`,
    );
  }
  const allowedVmpls = opts.allowedVmpls ?? [0];
  if (allowedVmpls.length === 0 || allowedVmpls.some((v) => !Number.isInteger(v) || v < 0 || v > 3)) {
    throw new AttestationError('VMPL_NOT_ALLOWED', 'SNP allowedVmpls must be a non-empty list of 0..3');
  }
  return { minVersion, allowedVmpls: [...allowedVmpls], opts };
}

function fail(code: ConstructorParameters<typeof AttestationError>[0], message: string): never {
  throw new AttestationError(code, `SNP ${message}`);
}

function checkVersion(version: number, minVersion: number): void {
  if (version < 2) fail('VERSION_NOT_ALLOWED', `report version ${version} is invalid`);
  if (version > MAX_VERSION) {
    fail(
      'VERSION_NOT_ALLOWED',
      `report version ${version} is newer than this verifier understands (max ${MAX_VERSION})`,
    );
  }
  if (version < minVersion) {
    fail('VERSION_NOT_ALLOWED', `report version ${version} is below the minimum ${minVersion}`);
  }
}

function typeName(t: CertChainEntry['certType']): string {
  return typeof t === 'string' ? t : `OTHER(${t.OTHER})`;
}

interface Vek {
  cert: CertInfo;
  info: AmdVekInfo;
  source: string;
  found?: { req: VcekRequest; vcek: FoundVcek };
}

function vekFrom(data: Uint8Array, what: string, source: string, label?: VekKind): Vek {
  const cert = certFromBytes(data, what);
  const info = amdVekInfo(cert);
  if (label && label !== info.kind) {
    fail('CHAIN_INVALID', `${what} is labelled ${label} but holds a ${info.kind} certificate`);
  }
  return { cert, info, source };
}

/** The product family of a VEK, from productName or else from its issuer (SEV-X / SEV-VLEK-X). */
function vekProduct(vek: Vek): SnpProduct | undefined {
  return vek.info.product ?? productFromName(vek.cert.issuerCN.replace(/^SEV-(VLEK-)?/, ''));
}

async function fetchVcek(report: SnpReport, settings: Settings): Promise<Vek> {
  const signingKey = signingKeyOf(report.keyInfo);
  if (signingKey === SIGNING_KEY.VLEK) {
    fail(
      'COLLATERAL_MISSING',
      'report is VLEK-signed but the evidence carries no VLEK (VLEKs cannot be fetched)',
    );
  }
  if (report.chipId.every((b) => b === 0)) {
    fail('COLLATERAL_MISSING', 'CHIP_ID is masked, so the VCEK must come with the evidence');
  }
  const { vcekCacheDir, kdsUrl } = settings.opts;
  if (!vcekCacheDir && !kdsUrl) {
    fail(
      'COLLATERAL_MISSING',
      'evidence carries no VCEK/VLEK and neither a VCEK cache nor a KDS URL is configured',
    );
  }
  // A v2 report does not name its product: try each family its TCB layout allows.
  const products: SnpProduct[] = report.product
    ? [report.product]
    : report.layout === 'turin'
      ? ['Turin']
      : ['Milan', 'Genoa'];
  let lastError: unknown;
  for (const product of products) {
    const req: VcekRequest = {
      product,
      chipId: report.chipId,
      tcb: decodeTcb(report.bytes, OFFSET.reportedTcb, layoutOf(product)),
    };
    let vcek: FoundVcek | undefined;
    try {
      vcek = await findVcek(req, settings.opts);
    } catch (e) {
      // With several candidate products, KDS answers 404 for the wrong ones: try the next.
      if (products.length === 1 || !(e instanceof AttestationError)) throw e;
      lastError = e;
      continue;
    }
    if (vcek) {
      return { ...vekFrom(vcek.der, `VCEK from ${vcek.source}`, vcek.source, 'VCEK'), found: { req, vcek } };
    }
  }
  if (lastError) throw lastError;
  return fail('COLLATERAL_MISSING', `no VCEK found for this chip and TCB in ${vcekCacheDir ?? kdsUrl}`);
}

/** Checks ARK → ASK/ASVK → VEK against the pinned roots of `product`, and validity at `now`. */
function verifyChain(vek: Vek, roots: AmdRoots, chain: CertChainEntry[], now: Date): void {
  const product = roots.product;
  const arkEntry = chain.find((e) => e.certType === 'ARK');
  if (arkEntry) {
    const ark = certFromBytes(arkEntry.data, 'cert_chain ARK');
    if (ark.digest !== roots.ark.digest && !issuedBy(ark, roots.ark)) {
      fail('CHAIN_INVALID', `cert_chain ARK does not verify under the pinned ARK-${product}`);
    }
  }
  const kind = vek.info.kind;
  const askEntry = chain.find((e) => e.certType === 'ASK');
  let intermediate: CertInfo;
  if (askEntry) {
    intermediate = certFromBytes(askEntry.data, 'cert_chain ASK');
    if (!issuedBy(intermediate, roots.ark)) {
      fail(
        'CHAIN_INVALID',
        `cert_chain ASK (CN=${intermediate.subjectCN}) is not signed by the pinned ARK-${product}`,
      );
    }
  } else {
    intermediate = kind === 'VCEK' ? roots.ask : roots.asvk;
  }
  const expectedCN = kind === 'VCEK' ? `SEV-${product}` : `SEV-VLEK-${product}`;
  if (intermediate.subjectCN !== expectedCN) {
    fail(
      'CHAIN_INVALID',
      `a ${kind} must chain to ${expectedCN} (${kind === 'VCEK' ? 'ASK' : 'ASVK'}), not to CN=${intermediate.subjectCN}`,
    );
  }
  if (!issuedBy(vek.cert, intermediate)) {
    fail('CHAIN_INVALID', `${kind} (from ${vek.source}) is not signed by ${expectedCN}`);
  }
  checkValidity(vek.cert, now, `SNP ${kind}`);
  checkValidity(intermediate, now, `SNP ${kind === 'VCEK' ? 'ASK' : 'ASVK'}`);
  checkValidity(roots.ark, now, 'SNP ARK');
}

function checkSignature(report: SnpReport, vek: Vek): void {
  if (report.sigAlgo !== 1) {
    fail(
      'SIGNATURE_INVALID',
      `SIGNATURE_ALGO ${report.sigAlgo} is not supported (only 1, ECDSA P-384 SHA-384)`,
    );
  }
  const signingKey = signingKeyOf(report.keyInfo);
  if (signingKey !== SIGNING_KEY.VCEK && signingKey !== SIGNING_KEY.VLEK) {
    fail(
      'SIGNATURE_INVALID',
      `report is not signed by a VCEK or VLEK (KEY_INFO.SIGNING_KEY = ${signingKey})`,
    );
  }
  const signedWith: VekKind = signingKey === SIGNING_KEY.VCEK ? 'VCEK' : 'VLEK';
  if (signedWith !== vek.info.kind) {
    fail(
      'CHAIN_INVALID',
      `report says it was signed with the ${signedWith}, but the certificate is a ${vek.info.kind}`,
    );
  }
  if (chipKeyMasked(report.keyInfo))
    fail('SIGNATURE_INVALID', 'report is unsigned (KEY_INFO.MASK_CHIP_KEY is set)');
  const details = vek.cert.publicKey.asymmetricKeyDetails;
  if (vek.cert.publicKey.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'secp384r1') {
    fail('CHAIN_INVALID', `${vek.info.kind} key is not ECDSA P-384`);
  }
  // r and s are 72-byte little-endian fields; P-384 values occupy the low 48 bytes.
  const sig = Buffer.alloc(96);
  for (const [i, off] of [OFFSET.signatureR, OFFSET.signatureS].entries()) {
    const field = report.bytes.subarray(off, off + SIG_COMPONENT_SIZE);
    if (field.subarray(48).some((b) => b !== 0))
      fail('SIGNATURE_INVALID', 'signature component exceeds 384 bits');
    sig.set(Uint8Array.from(field.subarray(0, 48)).reverse(), i * 48);
  }
  const ok = verifySignature(
    'sha384',
    report.bytes.subarray(0, SIGNED_LENGTH),
    { key: vek.cert.publicKey, dsaEncoding: 'ieee-p1363' },
    sig,
  );
  if (!ok)
    fail(
      'SIGNATURE_INVALID',
      `report signature does not verify with the ${vek.info.kind} (from ${vek.source})`,
    );
}

const tcbText = (t: {
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
  fmc?: number | null;
}) =>
  `${t.fmc !== null && t.fmc !== undefined ? `fmc=${t.fmc} ` : ''}bl=${t.bootloader} tee=${t.tee} snp=${t.snp} ucode=${t.microcode}`;

/** REPORTED_TCB must equal the VEK's SPLs; a VCEK's hwID must equal CHIP_ID. */
export function checkTcb(report: SnpReport, product: SnpProduct, info: AmdVekInfo): TcbVersion {
  const tcb = decodeTcb(report.bytes, OFFSET.reportedTcb, layoutOf(product));
  const spl = info.spl;
  const turin = product === 'Turin';
  if (turin && spl.fmc === undefined) fail('TCB_MISMATCH', `Turin ${info.kind} has no fmcSPL extension`);
  const same =
    tcb.bootloader === spl.bootloader &&
    tcb.tee === spl.tee &&
    tcb.snp === spl.snp &&
    tcb.microcode === spl.microcode &&
    (!turin || tcb.fmc === spl.fmc);
  if (!same) {
    fail(
      'TCB_MISMATCH',
      `REPORTED_TCB (${tcbText(tcb)}) does not match the ${info.kind} (${tcbText({ ...spl, fmc: turin ? spl.fmc : undefined })})`,
    );
  }
  if (info.kind === 'VCEK') {
    // Upstream skips this (it looks for CN=VCEK; real VCEKs are SEV-VCEK). We always check it.
    if (!info.hwId) fail('TCB_MISMATCH', 'VCEK has no hwID extension');
    const expected = turin ? report.chipId.subarray(0, 8) : report.chipId;
    if (info.hwId.length !== expected.length || !Buffer.from(info.hwId).equals(expected)) {
      fail('TCB_MISMATCH', 'CHIP_ID does not match the VCEK hwID (the VCEK belongs to another chip)');
    }
  }
  return tcb;
}

/** `value` zero-padded or truncated to `size` bytes (tee-evidence.md §3). */
function resized(value: Uint8Array, size: number): Buffer {
  const out = Buffer.alloc(size);
  out.set(value.subarray(0, size));
  return out;
}

function checkBinding(report: SnpReport, ctx: VerifyContext): void {
  if (ctx.expectedReportData) {
    if (!timingSafeEqual(resized(ctx.expectedReportData, 64), report.reportData)) {
      fail(
        'REPORT_DATA_MISMATCH',
        'REPORT_DATA does not equal the expected report data (nonce/tee-pubkey digest)',
      );
    }
  }
  if (ctx.expectedInitDataHash) {
    if (!timingSafeEqual(resized(ctx.expectedInitDataHash, 32), report.hostData)) {
      fail('INIT_DATA_MISMATCH', 'HOST_DATA does not equal the init-data digest');
    }
  }
}

/** Verifies SNP evidence and returns the claims together with what was used to verify it. */
export async function verifySnpEvidenceDetailed(
  evidence: unknown,
  ctx: SnpVerifyContext = {},
  opts: SnpVerifierOptions = {},
): Promise<SnpVerification> {
  const settings = settingsOf(opts);
  const now = ctx.now ?? new Date();
  if (Number.isNaN(now.getTime())) fail('EVIDENCE_MALFORMED', 'verification time is not a valid date');

  // 1. Parse (JSON or raw); 2. version policy.
  const parsed = parseSnpEvidence(evidence);
  const report = decodeReport(parsed.report);
  checkVersion(report.version, settings.minVersion);
  if (report.problem) throw report.problem;
  const roots = await loadAmdRoots(opts.rootsDir);

  // 3–4. The VEK: supplied out of band, else the first VCEK/VLEK of cert_chain, else cache/KDS.
  const chain = parsed.certChain ?? [];
  let vek: Vek;
  if (ctx.vek) {
    vek = vekFrom(ctx.vek, 'supplied VEK', 'supplied');
  } else {
    const entry = chain.find((e) => e.certType === 'VCEK' || e.certType === 'VLEK');
    vek = entry
      ? vekFrom(entry.data, `cert_chain ${typeName(entry.certType)}`, 'evidence', entry.certType as VekKind)
      : await fetchVcek(report, settings);
  }
  const fromVek = vekProduct(vek);
  const product = report.product ?? fromVek;
  if (!product)
    fail('TEE_UNSUPPORTED', `cannot tell the product of this v${report.version} report or its VEK`);
  if (fromVek && fromVek !== product) {
    fail('CHAIN_INVALID', `the ${vek.info.kind} is for ${fromVek}, but the report comes from ${product}`);
  }
  const productRoots = roots.get(product);
  if (!productRoots)
    fail('COLLATERAL_MISSING', `no AMD roots for ${product} (${opts.rootsDir ?? 'assets/snp'})`);

  // 5. Chain and validity; 6. signature; 7. TCB and chip ID; 8. VMPL; 9. binding.
  verifyChain(vek, productRoots, chain, now);
  checkSignature(report, vek);
  const tcb = checkTcb(report, product, vek.info);
  if (vek.found) await rememberVcek(vek.found.req, vek.found.vcek, opts);
  if (!settings.allowedVmpls.includes(report.vmpl)) {
    fail(
      'VMPL_NOT_ALLOWED',
      `report VMPL ${report.vmpl} is not allowed (allowed: ${settings.allowedVmpls.join(', ')})`,
    );
  }
  checkBinding(report, ctx);

  return {
    claims: snpClaims(report, tcb),
    product,
    version: report.version,
    vmpl: report.vmpl,
    vekKind: vek.info.kind,
    vekSource: vek.source,
  };
}

/**
 * Checks a VCEK or VLEK alone against the pinned roots at `now` (ARK → ASK/ASVK → VEK), e.g. for a
 * certificate about to be placed in the VCEK cache. The product comes from the certificate unless
 * given.
 */
export async function verifySnpVekChain(
  vekBytes: Uint8Array,
  opts: { now?: Date; rootsDir?: string; product?: SnpProduct } = {},
): Promise<{ product: SnpProduct; info: AmdVekInfo }> {
  const vek = vekFrom(vekBytes, 'VEK', 'supplied');
  const product = opts.product ?? vekProduct(vek);
  if (!product) fail('TEE_UNSUPPORTED', `cannot tell the product of the ${vek.info.kind}`);
  const roots = (await loadAmdRoots(opts.rootsDir)).get(product);
  if (!roots) fail('COLLATERAL_MISSING', `no AMD roots for ${product}`);
  verifyChain(vek, roots, [], opts.now ?? new Date());
  return { product, info: vek.info };
}

/**
 * Verifies SNP evidence: the Trustee JSON (object, text or bytes) or a raw 1184-byte report.
 * Returns the Trustee SNP claims; throws an AttestationError naming the failed check.
 */
export async function verifySnpEvidence(
  evidence: unknown,
  ctx: SnpVerifyContext = {},
  opts: SnpVerifierOptions = {},
): Promise<Claims> {
  return (await verifySnpEvidenceDetailed(evidence, ctx, opts)).claims;
}

export class SnpVerifier implements Verifier {
  readonly tee = 'snp' as const;
  private readonly opts: SnpVerifierOptions;

  constructor(opts: SnpVerifierOptions = {}) {
    settingsOf(opts); // reject a bad configuration at construction, not at the first request
    this.opts = { ...opts, allowedVmpls: opts.allowedVmpls ? [...opts.allowedVmpls] : undefined };
  }

  /** Loads and checks the AMD roots, so a broken installation fails at startup. */
  async ready(): Promise<void> {
    await loadAmdRoots(this.opts.rootsDir);
  }

  verify(evidence: unknown, ctx: SnpVerifyContext): Promise<Claims> {
    return verifySnpEvidence(evidence, ctx, this.opts);
  }
}
