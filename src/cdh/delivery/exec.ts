import { spawn } from 'node:child_process';
import type { Unsealer } from '../hub.js';
import { type EnvOutcome, unsealEnvironment } from './unseal-env.js';
import { type FileOutcome, unsealDirectory } from './unseal-files.js';

/*
 * `cdh exec`: unseal the environment and Secret volumes, then become the workload. Fail-closed by
 * default: if any value cannot be unsealed the command does not start (kata starts the container
 * with the sealed text instead, cdh.md §8.3).
 */

export interface ExecOptions {
  command: string[];
  dirs: string[];
  failOpen: boolean;
  unsealer: Unsealer;
  env?: NodeJS.ProcessEnv;
  report: (line: string) => void;
}

export interface PreparedWorkload {
  env: NodeJS.ProcessEnv;
  failures: string[];
  unsealed: number;
}

/** Unseals everything the workload will see; returns the environment and the failures (by name, with reason). */
export async function prepareWorkload(
  o: Omit<ExecOptions, 'command' | 'report' | 'failOpen'>,
): Promise<PreparedWorkload> {
  const { env, outcomes } = await unsealEnvironment(o.env ?? process.env, o.unsealer);
  const files: FileOutcome[] = [];
  const failures: string[] = [];
  for (const dir of o.dirs) {
    try {
      files.push(...(await unsealDirectory(dir, o.unsealer)));
    } catch (e) {
      failures.push(`directory ${dir}: ${(e as Error).message}`);
    }
  }
  const bad = (x: EnvOutcome | FileOutcome) => x.status === 'error';
  for (const v of outcomes.filter(bad)) failures.push(`environment variable ${v.name}: ${v.error}`);
  for (const f of files.filter(bad)) failures.push(`file ${f.entry}: ${f.error}`);
  const unsealed = outcomes.length + files.length - failures.length;
  return { env, failures, unsealed: Math.max(0, unsealed) };
}

const FORWARDED: NodeJS.Signals[] = [
  'SIGINT',
  'SIGTERM',
  'SIGHUP',
  'SIGQUIT',
  'SIGUSR1',
  'SIGUSR2',
  'SIGWINCH',
];
const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGTERM: 15,
};

/** Runs the workload with signals forwarded; resolves to its exit code (128+n when killed by signal n). */
export function runWorkload(command: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(command[0], command.slice(1), { env, stdio: 'inherit' });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    for (const s of FORWARDED) process.on(s, forward);
    const done = (code: number) => {
      for (const s of FORWARDED) process.off(s, forward);
      resolve(code);
    };
    child.on('error', (e) => {
      process.stderr.write(
        `cdh exec: cannot start ${command[0]}: ${(e as NodeJS.ErrnoException).code ?? e.message}\n`,
      );
      done(127);
    });
    child.on('exit', (code, signal) => done(code ?? 128 + (signal ? (SIGNAL_NUMBERS[signal] ?? 1) : 1)));
  });
}

export async function cdhExec(o: ExecOptions): Promise<number> {
  const prepared = await prepareWorkload(o);
  for (const f of prepared.failures) o.report(`cannot unseal ${f}`);
  if (prepared.failures.length && !o.failOpen) {
    o.report(
      `not starting ${o.command[0]}: ${prepared.failures.length} value(s) could not be unsealed (use --fail-open to start anyway)`,
    );
    return 1;
  }
  return runWorkload(o.command, prepared.env);
}
