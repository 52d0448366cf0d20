#!/usr/bin/env node
// `npm run bench`: runs every compiled benchmark (dist/bench/*.bench.js) one after another, so that
// they do not compete for the machine's cores. Benchmarks print their own tables and ratios.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dir = join(root, 'dist', 'bench');
const filter = process.argv.slice(2);
let files = existsSync(dir)
  ? readdirSync(dir)
      .filter((f) => f.endsWith('.bench.js'))
      .sort()
  : [];
if (filter.length) files = files.filter((f) => filter.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no benchmarks found: run `npm run build` first');
  process.exit(1);
}
let failed = 0;
for (const f of files) {
  console.log(`\n=== ${f.replace('.bench.js', '')} ===`);
  const r = spawnSync(process.execPath, ['--expose-gc', join(dir, f)], {
    stdio: 'inherit',
    env: process.env,
  });
  if (r.status !== 0) {
    failed++;
    console.error(`benchmark ${f} failed (exit ${r.status})`);
  }
}
process.exit(failed ? 1 : 0);
