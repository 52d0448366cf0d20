import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AttestationError } from '../errors.js';
import { pemBlocks } from '../x509.js';
import { type CertInfo, certFromDer, issuedBy } from './certs.js';
import { SNP_PRODUCTS, type SnpProduct } from './report.js';

/*
 * The AMD trust anchors: per product an ARK (self-signed root), the ASK that signs VCEKs, and the
 * ASVK that signs VLEKs (tee-evidence.md §1.5). They ship with the package as
 * assets/snp/<product>_ask_ark_asvk.pem, the same files Trustee embeds. Certificates are identified
 * by CN, not by their order in the file, and the ARK → ASK/ASVK signatures are checked on load.
 */

export interface AmdRoots {
  product: SnpProduct;
  ark: CertInfo;
  ask: CertInfo;
  asvk: CertInfo;
}

function isPackageRoot(dir: string): boolean {
  const file = join(dir, 'package.json');
  if (!existsSync(file)) return false;
  try {
    return JSON.parse(readFileSync(file, 'utf8')).name === 'cocoseal';
  } catch {
    return false;
  }
}

/** The package root, walking up from this module (src/… under tsx, dist/src/… when built). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!isPackageRoot(dir)) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cocoseal package root not found above the SNP verifier module');
    dir = up;
  }
  return dir;
}

let defaultDir: string | undefined;

export function defaultRootsDir(): string {
  defaultDir ??= join(packageRoot(), 'assets', 'snp');
  return defaultDir;
}

export function rootsFileName(product: SnpProduct): string {
  return `${product.toLowerCase()}_ask_ark_asvk.pem`;
}

function parseRoots(product: SnpProduct, pem: string, file: string): AmdRoots {
  const certs = pemBlocks(pem).map((der, i) => certFromDer(der, `${file} certificate ${i}`));
  const byCN = (cn: string) => {
    const found = certs.find((c) => c.subjectCN === cn);
    if (!found) throw new AttestationError('CHAIN_INVALID', `${file}: no certificate with CN=${cn}`);
    return found;
  };
  const ark = byCN(`ARK-${product}`);
  const ask = byCN(`SEV-${product}`);
  const asvk = byCN(`SEV-VLEK-${product}`);
  if (!issuedBy(ark, ark)) throw new AttestationError('CHAIN_INVALID', `${file}: ARK is not self-signed`);
  for (const [name, c] of [
    ['ASK', ask],
    ['ASVK', asvk],
  ] as const) {
    if (!issuedBy(c, ark))
      throw new AttestationError('CHAIN_INVALID', `${file}: ${name} is not signed by the ARK`);
  }
  return { product, ark, ask, asvk };
}

const loaded = new Map<string, Promise<Map<SnpProduct, AmdRoots>>>();

async function load(dir: string): Promise<Map<SnpProduct, AmdRoots>> {
  const out = new Map<SnpProduct, AmdRoots>();
  for (const product of SNP_PRODUCTS) {
    const file = join(dir, rootsFileName(product));
    let pem: string;
    try {
      pem = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new AttestationError('COLLATERAL_MISSING', `cannot read AMD roots ${file}`, { cause: e });
    }
    out.set(product, parseRoots(product, pem, file));
  }
  if (out.size === 0) {
    throw new AttestationError('COLLATERAL_MISSING', `no AMD roots (*_ask_ark_asvk.pem) in ${dir}`);
  }
  return out;
}

/** The roots in `dir` (default: the shipped assets), loaded once per directory. */
export function loadAmdRoots(dir = defaultRootsDir()): Promise<Map<SnpProduct, AmdRoots>> {
  let p = loaded.get(dir);
  if (!p) {
    p = load(dir);
    loaded.set(dir, p);
    // A failed load (missing directory, bad file) is not cached: the operator may fix it.
    p.catch(() => loaded.delete(dir));
  }
  return p;
}
