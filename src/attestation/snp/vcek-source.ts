import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AttestationError } from '../errors.js';
import { certFromDer } from './certs.js';
import type { SnpProduct, TcbVersion } from './report.js';

/*
 * Where a VCEK comes from when the evidence does not carry one (tee-evidence.md §1.5): first an
 * on-disk cache in Trustee's offline-store layout, then AMD KDS — but KDS only when a URL is
 * configured, so an offline KBS never reaches out. Whatever is found is still chain-verified by the
 * caller; this module only locates bytes. VLEKs cannot be fetched (KDS issues them to cloud
 * providers only), so they must come with the evidence.
 */

export interface VcekRequest {
  product: SnpProduct;
  /** CHIP_ID from the report (64 bytes); Turin uses its first 8 bytes as hwID. */
  chipId: Uint8Array;
  /** REPORTED_TCB. */
  tcb: TcbVersion;
}

export interface VcekSourceOptions {
  /** Trustee offline-store layout: `{dir}/vcek/{hwid}/…_vcek.der`. Filled from KDS when both are set. */
  vcekCacheDir?: string;
  /** e.g. `https://kdsintf.amd.com`. Never contacted unless set. */
  kdsUrl?: string;
  kdsTimeoutMs?: number;
}

export interface FoundVcek {
  der: Uint8Array;
  /** A file path or the KDS URL, for messages. */
  source: string;
  fromKds: boolean;
}

const MAX_VCEK_BYTES = 16 * 1024;
const DEFAULT_KDS_TIMEOUT_MS = 10_000;

export function hwIdHex(product: SnpProduct, chipId: Uint8Array): string {
  return Buffer.from(product === 'Turin' ? chipId.subarray(0, 8) : chipId).toString('hex');
}

const two = (n: number) => String(n).padStart(2, '0');

/** The KDS path and query for a VCEK (SPL values are REPORTED_TCB, at least two digits). */
export function kdsVcekPath(req: VcekRequest): string {
  const t = req.tcb;
  const spl = `blSPL=${two(t.bootloader)}&teeSPL=${two(t.tee)}&snpSPL=${two(t.snp)}&ucodeSPL=${two(t.microcode)}`;
  const query = req.product === 'Turin' ? `fmcSPL=${two(t.fmc ?? 0)}&${spl}` : spl;
  return `/vcek/v1/${req.product}/${hwIdHex(req.product, req.chipId)}?${query}`;
}

/** Trustee's offline store: the TCB-specific file, then the chip's generic `vcek.der`. */
export function cacheCandidates(dir: string, req: VcekRequest): string[] {
  const t = req.tcb;
  const fmc = req.product === 'Turin' ? `_fmc${two(t.fmc ?? 0)}` : '';
  const chipDir = join(dir, 'vcek', hwIdHex(req.product, req.chipId));
  return [
    join(
      chipDir,
      `bl${two(t.bootloader)}_tee${two(t.tee)}_snp${two(t.snp)}_ucode${two(t.microcode)}${fmc}_vcek.der`,
    ),
    join(chipDir, 'vcek.der'),
  ];
}

async function fromCache(dir: string, req: VcekRequest): Promise<FoundVcek | undefined> {
  for (const file of cacheCandidates(dir, req)) {
    try {
      return { der: new Uint8Array(await readFile(file)), source: file, fromKds: false };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new AttestationError('COLLATERAL_MISSING', `cannot read cached VCEK ${file}`, { cause: e });
      }
    }
  }
  return undefined;
}

async function readCapped(res: Response, url: string): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > MAX_VCEK_BYTES) {
    throw new AttestationError(
      'COLLATERAL_MISSING',
      `KDS response for ${url} is too large (${declared} bytes)`,
    );
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (res.body) {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      total += chunk.length;
      if (total > MAX_VCEK_BYTES) {
        throw new AttestationError(
          'COLLATERAL_MISSING',
          `KDS response for ${url} exceeds ${MAX_VCEK_BYTES} bytes`,
        );
      }
      chunks.push(chunk);
    }
  }
  return new Uint8Array(Buffer.concat(chunks));
}

async function fromKds(base: string, req: VcekRequest, timeoutMs: number): Promise<FoundVcek> {
  let parsed: URL;
  try {
    parsed = new URL(base);
  } catch {
    throw new AttestationError('COLLATERAL_MISSING', `KDS URL ${base} is not a valid URL`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new AttestationError('COLLATERAL_MISSING', `KDS URL ${base} must be http(s)`);
  }
  const url = `${base.replace(/\/+$/, '')}${kdsVcekPath(req)}`;
  let res: Response;
  try {
    res = await fetch(url, {
      signal: AbortSignal.timeout(timeoutMs),
      headers: { accept: 'application/pkix-cert' },
    });
  } catch (e) {
    throw new AttestationError('COLLATERAL_MISSING', `cannot fetch the VCEK from KDS (${url})`, { cause: e });
  }
  if (res.status !== 200) {
    await res.body?.cancel().catch(() => undefined);
    const hint = res.status === 429 ? ' (rate limited; configure vcekCacheDir)' : '';
    throw new AttestationError('COLLATERAL_MISSING', `KDS returned HTTP ${res.status} for ${url}${hint}`);
  }
  const der = await readCapped(res, url);
  // Refuse to cache anything that is not even a certificate; the chain check happens later.
  certFromDer(der, `VCEK from ${url}`);
  return { der, source: url, fromKds: true };
}

async function storeInCache(dir: string, req: VcekRequest, der: Uint8Array): Promise<void> {
  const file = cacheCandidates(dir, req)[0];
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(tmp, der, { mode: 0o644 });
    await rename(tmp, file);
  } catch {
    // The cache is an optimisation: a read-only or full disk must not fail a verification.
  }
}

// Concurrent verifications of one chip share a single KDS request, and a VCEK that verified is
// remembered (in memory, and in the cache directory when one is configured): KDS rate-limits
// aggressively. Nothing is remembered before the caller has checked the chain, so a bad answer
// cannot poison the cache.
const inFlight = new Map<string, Promise<FoundVcek>>();
const fetched = new Map<string, FoundVcek>();
const MAX_REMEMBERED = 256;

/** Finds the VCEK for `req`, or undefined when neither source is configured or has it. */
export async function findVcek(req: VcekRequest, opts: VcekSourceOptions): Promise<FoundVcek | undefined> {
  if (opts.vcekCacheDir) {
    const hit = await fromCache(opts.vcekCacheDir, req);
    if (hit) return hit;
  }
  if (!opts.kdsUrl) return undefined;
  const key = `${opts.kdsUrl}${kdsVcekPath(req)}`;
  const remembered = fetched.get(key);
  if (remembered) return remembered;
  let p = inFlight.get(key);
  if (!p) {
    p = fromKds(opts.kdsUrl, req, opts.kdsTimeoutMs ?? DEFAULT_KDS_TIMEOUT_MS).finally(() =>
      inFlight.delete(key),
    );
    inFlight.set(key, p);
  }
  return p;
}

/** Called once a VCEK from KDS has passed the chain check: keep it for the next verification. */
export async function rememberVcek(
  req: VcekRequest,
  found: FoundVcek,
  opts: VcekSourceOptions,
): Promise<void> {
  if (!found.fromKds || !opts.kdsUrl) return;
  const key = `${opts.kdsUrl}${kdsVcekPath(req)}`;
  if (fetched.has(key)) return;
  if (fetched.size >= MAX_REMEMBERED) fetched.delete(fetched.keys().next().value as string);
  fetched.set(key, found);
  if (opts.vcekCacheDir) await storeInCache(opts.vcekCacheDir, req, found.der);
}

/** Forgets remembered KDS answers (tests). */
export function clearVcekMemory(): void {
  fetched.clear();
}
