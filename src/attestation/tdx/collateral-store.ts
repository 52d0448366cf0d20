import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AttestationError } from '../errors.js';
import { pemBlocks } from '../x509.js';
import { DigestCache, digestOf } from './cache.js';
import { type RawCollateral, signatureBytes, splitSignedResponse } from './collateral.js';
import type { PckCaType } from './pck.js';

/*
 * On-disk collateral. Two layouts are read (tee-evidence.md §2.6, vectors/tee/README.md):
 *
 *  - bundle: one `collateral.json` with `tcb_info` / `qe_identity` as the exact signed JSON strings,
 *    hex signatures, PEM issuer chains, and hex-DER `pck_crl` / `root_ca_crl`;
 *  - separate files: `tcb_info.json` and `qe_identity.json` (PCS response bodies), `*_issuer_chain.pem`,
 *    `pck_crl.der` (or `pck_crl_platform.der` / `pck_crl_processor.der`), `root_ca_crl.der`.
 *
 * A cache directory holds one such set per FMSPC in `<dir>/<fmspc>/` (lower- or upper-case hex), or a
 * single set at its top level. Collateral fetched from a PCCS is written back as `<dir>/<fmspc>/collateral.json`.
 */

export interface CollateralQuery {
  /** Lower-case hex. */
  fmspc: string;
  caType: PckCaType;
}

async function exists(path: string): Promise<'file' | 'dir' | undefined> {
  try {
    const s = await stat(path);
    return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : undefined;
  } catch {
    return undefined;
  }
}

async function readOptional(path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AttestationError(
      'COLLATERAL_MISSING',
      `cannot read collateral file ${path}: ${(e as Error).message}`,
    );
  }
}

/** A CRL given as DER, PEM (`X509 CRL`) or hex text. */
export function crlBytes(data: Buffer | string, what: string): Buffer {
  const buf = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  if (buf[0] === 0x30) return buf;
  const text = buf.toString('latin1').trim();
  if (text.includes('-----BEGIN X509 CRL-----')) {
    const [der] = pemBlocks(text, 'X509 CRL');
    if (der) return der;
  }
  if (/^(?:[0-9a-fA-F]{2})+$/.test(text)) return Buffer.from(text, 'hex');
  throw new AttestationError('COLLATERAL_INVALID', `${what}: not a CRL (expected DER, PEM or hex)`);
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string' || v === '') {
    throw new AttestationError('COLLATERAL_INVALID', `${what} is missing or not a string`);
  }
  return v;
}

const parsedBundles = new DigestCache<RawCollateral>(64);

/**
 * Parses the bundle layout (`collateral.json`). Results are memoized by the digest of the bytes, so an
 * unchanged file yields the same object (which lets the verifier skip re-hashing it).
 */
export function parseBundle(text: Buffer | string, origin: string): RawCollateral {
  return parsedBundles.getOrCompute(digestOf(text, origin), () => parseBundleUncached(text, origin));
}

function parseBundleUncached(text: Buffer | string, origin: string): RawCollateral {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(typeof text === 'string' ? text : text.toString('utf8'));
  } catch (e) {
    throw new AttestationError('COLLATERAL_INVALID', `collateral bundle ${origin}: ${(e as Error).message}`);
  }
  if (j === null || typeof j !== 'object') {
    throw new AttestationError('COLLATERAL_INVALID', `collateral bundle ${origin} is not an object`);
  }
  const tcbChain = str(j.tcb_info_issuer_chain, `${origin}: tcb_info_issuer_chain`);
  const raw: RawCollateral = {
    tcbInfo: {
      body: Buffer.from(str(j.tcb_info, `${origin}: tcb_info`), 'utf8'),
      signature: signatureBytes(j.tcb_info_signature, `${origin}: tcb_info_signature`),
      issuerChainPem: tcbChain,
    },
    qeIdentity: {
      body: Buffer.from(str(j.qe_identity, `${origin}: qe_identity`), 'utf8'),
      signature: signatureBytes(j.qe_identity_signature, `${origin}: qe_identity_signature`),
      issuerChainPem: typeof j.qe_identity_issuer_chain === 'string' ? j.qe_identity_issuer_chain : tcbChain,
    },
    origin,
  };
  if (j.pck_crl !== undefined && j.pck_crl !== null)
    raw.pckCrl = crlBytes(str(j.pck_crl, `${origin}: pck_crl`), `${origin}: pck_crl`);
  if (typeof j.pck_crl_issuer_chain === 'string') raw.pckCrlIssuerChainPem = j.pck_crl_issuer_chain;
  if (j.root_ca_crl !== undefined && j.root_ca_crl !== null) {
    raw.rootCaCrl = crlBytes(str(j.root_ca_crl, `${origin}: root_ca_crl`), `${origin}: root_ca_crl`);
  }
  return raw;
}

/** Serializes collateral in the bundle layout (what `parseBundle` reads). */
export function toBundle(raw: RawCollateral): string {
  const out: Record<string, string> = {
    tcb_info_issuer_chain: raw.tcbInfo.issuerChainPem,
    tcb_info: raw.tcbInfo.body.toString('utf8'),
    tcb_info_signature: raw.tcbInfo.signature.toString('hex'),
    qe_identity_issuer_chain: raw.qeIdentity.issuerChainPem,
    qe_identity: raw.qeIdentity.body.toString('utf8'),
    qe_identity_signature: raw.qeIdentity.signature.toString('hex'),
  };
  if (raw.pckCrlIssuerChainPem) out.pck_crl_issuer_chain = raw.pckCrlIssuerChainPem;
  if (raw.pckCrl) out.pck_crl = raw.pckCrl.toString('hex');
  if (raw.rootCaCrl) out.root_ca_crl = raw.rootCaCrl.toString('hex');
  return `${JSON.stringify(out, null, 2)}\n`;
}

/** Reads the separate-file layout from `dir`. Undefined when `tcb_info.json` is absent. */
async function readSeparate(dir: string, caType: PckCaType): Promise<RawCollateral | undefined> {
  const tcb = await readOptional(join(dir, 'tcb_info.json'));
  if (!tcb) return undefined;
  const qe = await readOptional(join(dir, 'qe_identity.json'));
  if (!qe) throw new AttestationError('COLLATERAL_MISSING', `${dir}: tcb_info.json without qe_identity.json`);
  const tcbChain = await readOptional(join(dir, 'tcb_info_issuer_chain.pem'));
  if (!tcbChain)
    throw new AttestationError('COLLATERAL_MISSING', `${dir}: tcb_info_issuer_chain.pem is missing`);
  // The same "Intel SGX TCB Signing" certificate signs both documents; a separate QE chain is optional.
  const qeChain = (await readOptional(join(dir, 'qe_identity_issuer_chain.pem'))) ?? tcbChain;
  const tcbParts = splitSignedResponse(tcb, 'tcbInfo', join(dir, 'tcb_info.json'));
  const qeParts = splitSignedResponse(qe, 'enclaveIdentity', join(dir, 'qe_identity.json'));
  const raw: RawCollateral = {
    tcbInfo: { ...tcbParts, issuerChainPem: tcbChain.toString('latin1') },
    qeIdentity: { ...qeParts, issuerChainPem: qeChain.toString('latin1') },
    origin: dir,
  };
  const pckCrl =
    (await readOptional(join(dir, `pck_crl_${caType}.der`))) ??
    (await readOptional(join(dir, 'pck_crl.der')));
  if (pckCrl) raw.pckCrl = crlBytes(pckCrl, join(dir, 'pck_crl.der'));
  const pckChain = await readOptional(join(dir, 'pck_crl_issuer_chain.pem'));
  if (pckChain) raw.pckCrlIssuerChainPem = pckChain.toString('latin1');
  const rootCrl = await readOptional(join(dir, 'root_ca_crl.der'));
  if (rootCrl) raw.rootCaCrl = crlBytes(rootCrl, join(dir, 'root_ca_crl.der'));
  return raw;
}

/**
 * Loads collateral for `q` from `path`: a bundle file, or a directory in either layout, looking in
 * `<path>/<fmspc>/` first. Undefined when nothing is there.
 */
export async function loadCollateral(path: string, q: CollateralQuery): Promise<RawCollateral | undefined> {
  const kind = await exists(path);
  if (kind === 'file') {
    const text = await readOptional(path);
    return text ? parseBundle(text, path) : undefined;
  }
  if (kind !== 'dir') return undefined;
  for (const dir of [join(path, q.fmspc), join(path, q.fmspc.toUpperCase()), path]) {
    if ((await exists(dir)) !== 'dir') continue;
    const bundle = await readOptional(join(dir, 'collateral.json'));
    if (bundle) return parseBundle(bundle, join(dir, 'collateral.json'));
    const separate = await readSeparate(dir, q.caType);
    if (separate) return separate;
  }
  return undefined;
}

/** Writes `raw` to `<dir>/<fmspc>/collateral.json` atomically (temp file, then rename). */
export async function storeCollateral(dir: string, q: CollateralQuery, raw: RawCollateral): Promise<string> {
  const target = join(dir, q.fmspc);
  await mkdir(target, { recursive: true, mode: 0o755 });
  const file = join(target, 'collateral.json');
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(tmp, toBundle(raw), { mode: 0o644 });
  await rename(tmp, file);
  return file;
}
