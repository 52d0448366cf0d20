#!/usr/bin/env node
// Runs every compiled test file with node's built-in runner. Node 20 takes no globs, so the files are
// listed here. With COCOSEAL_NO_SKIP=1 (set by .ci/run) a skipped test fails the run: CI installs
// every optional component, so a skip there means something is missing.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const dist = join(root, 'dist');
const filter = process.argv.slice(2);

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

let files = walk(join(dist, 'src'), []).concat(walk(join(dist, 'test'), []));
if (filter.length) files = files.filter((f) => filter.some((x) => f.includes(x)));
files.sort();
if (files.length === 0) {
  console.error('no test files found: run `npm run build` first');
  process.exit(1);
}
console.error(`running ${files.length} test files: ${files.map((f) => relative(dist, f)).join(' ')}`);

// Every server the tests talk to is on loopback, and the KBS client honours the proxy variables as
// upstream's does: a developer's corporate proxy must not capture test traffic. The proxy tests
// pass their settings explicitly.
const env = { ...process.env };
for (const name of Object.keys(env)) {
  if (/^(https?|all|no)_proxy$/i.test(name)) delete env[name];
}
const res = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=3', '--test-timeout=300000', ...files],
  { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 1 << 30, env },
);
process.stdout.write(res.stdout ?? '');
// A skipped describe() is not counted in node 20's summary, so also count the `# SKIP` markers.
const skipLines = (res.stdout ?? '').split('\n').filter((l) => /# SKIP/.test(l));
const skipped = Math.max(Number(/^# skipped (\d+)/m.exec(res.stdout ?? '')?.[1] ?? 0), skipLines.length);
if (skipped > 0) {
  console.error(`\n${skipped} test(s) skipped:\n${skipLines.join('\n')}`);
  if (process.env.COCOSEAL_NO_SKIP === '1') {
    console.error('COCOSEAL_NO_SKIP=1: a skipped test fails the run');
    process.exit(1);
  }
}
process.exit(res.status ?? 1);
