import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CocosealError } from '../../common/errors.js';
import { p256Jwks } from '../../crypto/jwk.js';

export interface KeygenResult {
  privatePath: string;
  publicPath: string;
}

async function createExclusive(path: string, text: string, mode: number): Promise<void> {
  try {
    await writeFile(path, text, { flag: 'wx', mode });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new CocosealError('FILE_EXISTS', `${path} already exists; refusing to overwrite a key`);
    }
    throw new CocosealError('IO_ERROR', `cannot write ${path}: ${(e as Error).message}`);
  }
}

/** `secret keygen`: a fresh P-256 signing key as `<kid>-private.json` (0600) and `<kid>-public.json`. */
export async function keygen(kid: string, outputDir: string): Promise<KeygenResult> {
  let d: Buffer;
  // A scalar must be in [1, n-1]; 32 random bytes fall outside with probability ~2^-32.
  for (;;) {
    d = randomBytes(32);
    try {
      p256Jwks(d, kid);
      break;
    } catch {}
  }
  const { privateJwk, publicJwk } = p256Jwks(d, kid);
  d.fill(0);
  const privatePath = join(outputDir, `${kid}-private.json`);
  const publicPath = join(outputDir, `${kid}-public.json`);
  if (kid.includes('/') || kid.includes('\\') || kid === '' || kid === '.' || kid === '..') {
    throw new CocosealError('USAGE', `--kid ${JSON.stringify(kid)} cannot be used as a file name`);
  }
  for (const p of [privatePath, publicPath]) {
    if (existsSync(p))
      throw new CocosealError('FILE_EXISTS', `${p} already exists; refusing to overwrite a key`);
  }
  await createExclusive(privatePath, `${JSON.stringify(privateJwk, null, 2)}\n`, 0o600);
  await createExclusive(publicPath, `${JSON.stringify(publicJwk, null, 2)}\n`, 0o644);
  return { privatePath, publicPath };
}
