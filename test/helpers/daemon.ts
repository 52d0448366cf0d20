import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { binDir } from './paths.js';

export interface Daemon {
  child: ChildProcess;
  /** The first stdout line that matched the readiness pattern. */
  ready: string;
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts one of the package's programs and waits until it prints a line matching `readyLine` on
 * stdout (no fixed sleeps). Rejects with its stderr if it exits or times out first.
 */
export function startDaemon(
  name: 'kbs' | 'cdh',
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; readyLine: RegExp; timeoutMs?: number },
): Promise<Daemon> {
  const child = spawn(process.execPath, [join(binDir, name), ...args], {
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr?.on('data', (c) => {
    err += c;
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not become ready in time:\n${err}`));
    }, opts.timeoutMs ?? 30_000);
    child.stdout?.on('data', (c) => {
      out += c;
      const line = out.split('\n').find((l) => opts.readyLine.test(l));
      if (line) {
        clearTimeout(timer);
        resolve({
          child,
          ready: line,
          stderr: () => err,
          async stop(signal = 'SIGTERM') {
            if (child.exitCode === null && child.signalCode === null) child.kill(signal);
            return exited;
          },
        });
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before becoming ready:\n${err}`));
    });
  });
}
