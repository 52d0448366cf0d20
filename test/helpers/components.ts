import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/*
 * Optional system components. On a user's machine a test that needs one is skipped with a clear
 * message when it is missing; .ci/run installs all of them and sets COCOSEAL_NO_SKIP=1, which turns
 * every skip into a failure (scripts/run-tests.mjs).
 */

function has(cmd: string, args: string[] = ['--version']): boolean {
  try {
    return spawnSync(cmd, args, { stdio: 'ignore', timeout: 10_000 }).status === 0;
  } catch {
    return false;
  }
}

/** Returns a skip reason, or undefined when the component is present. */
export type Probe = () => string | undefined;

export const needs = {
  postgres: (() =>
    process.env.DATABASE_URL ? undefined : 'DATABASE_URL is not set (PostgreSQL tests)') as Probe,
  kubectl: (() =>
    has('kubectl', ['version', '--client'])
      ? undefined
      : 'kubectl not installed (Debian kubernetes-client)') as Probe,
  go: (() => (has('go', ['version']) ? undefined : 'go not installed (Debian golang-go)')) as Probe,
  goTtrpc: (() =>
    has('go', ['version']) && existsSync('/usr/share/gocode/src/github.com/containerd/ttrpc')
      ? undefined
      : 'Go ttrpc sources missing (Debian golang-go golang-github-containerd-ttrpc-dev)') as Probe,
  jwcrypto: (() =>
    has('/usr/bin/python3', ['-c', 'import jwcrypto'])
      ? undefined
      : 'python3-jwcrypto not installed for /usr/bin/python3') as Probe,
  softhsm: (() => (softhsmModule() ? undefined : 'SoftHSM2 not installed (Debian softhsm2)')) as Probe,
  redis: (() =>
    process.env.REDIS_URL ? undefined : 'REDIS_URL is not set (Redis session-store tests)') as Probe,
};

export function softhsmModule(): string | undefined {
  for (const p of [
    process.env.SOFTHSM2_MODULE ?? '',
    '/usr/lib/softhsm/libsofthsm2.so',
    '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
    '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
  ]) {
    if (p && existsSync(p)) return p;
  }
  return undefined;
}

/** `test(name, { skip: skipUnless(needs.go) }, fn)`: the skip message says what is missing. */
export function skipUnless(...probes: Probe[]): string | false {
  for (const p of probes) {
    const why = p();
    if (why) return `skipped: ${why}`;
  }
  return false;
}
