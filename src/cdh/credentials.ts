import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';
import type { ResourceGetter } from '../kms/resource-getter.js';
import type { CredentialSpec } from './config.js';
import { CdhError } from './errors.js';

/*
 * `[[credentials]]` provisioning at start (cdh.md §5): each resource is fetched and written under
 * `<base>/kbs`. Paths are checked by components, not by string prefix as upstream does, so
 * `/run/confidential-containers/cdh/kbsX/…` and `..` escapes are refused.
 */

export function checkCredentialPath(path: string, baseDir: string): void {
  const root = join(baseDir, 'kbs');
  const segments = path.split('/');
  const rel = relative(root, path);
  if (
    !isAbsolute(path) ||
    segments.includes('.') ||
    segments.includes('..') ||
    rel === '' ||
    rel.startsWith(`..${sep}`) ||
    rel === '..' ||
    isAbsolute(rel)
  ) {
    throw new CdhError(
      'CREDENTIAL_PATH_INVALID',
      `illegal path to put credential : ${path} (must lie under ${root})`,
    );
  }
}

/** Checks every path first (nothing is fetched if one is bad), then fetches and writes atomically. */
export async function provisionCredentials(
  specs: CredentialSpec[],
  baseDir: string,
  resources: ResourceGetter,
): Promise<number> {
  const byPath = new Map<string, CredentialSpec>();
  for (const s of specs) {
    checkCredentialPath(s.path, baseDir);
    byPath.set(s.path, s); // upstream keys credentials by path: the last one wins
  }
  await mkdir(join(baseDir, 'kbs'), { recursive: true, mode: 0o700 });
  for (const s of byPath.values()) {
    let bytes: Uint8Array;
    try {
      bytes = await resources.get(s.resourceUri);
    } catch (e) {
      throw new CdhError(
        'CREDENTIAL_FAILED',
        `cannot fetch credential ${s.resourceUri} for ${s.path}: ${(e as Error).message}`,
        { cause: e },
      );
    }
    await mkdir(dirname(s.path), { recursive: true, mode: 0o700 });
    const tmp = `${s.path}.tmp-${process.pid}`;
    await writeFile(tmp, bytes, { mode: 0o600 });
    await rename(tmp, s.path);
  }
  return byPath.size;
}
