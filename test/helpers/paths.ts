import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root, found from this file whether it runs from `test/` (tsx) or `dist/test/` (build). */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package root not found');
    dir = up;
  }
  return dir;
}

export const repoRoot = findRoot();
/** Test vectors, copied from the project's shared spec folder (see test/vectors/README.md). */
export const vectorsDir = join(repoRoot, 'test', 'vectors');
export const binDir = join(repoRoot, 'bin');

export function vector(...parts: string[]): string {
  return join(vectorsDir, ...parts);
}
