import { watch as fsWatch } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Unsealer } from '../hub.js';
import { type FileOutcome, unsealDirectory } from './unseal-files.js';

/*
 * `cdh watch`: keeps a Secret volume unsealed across updates. The kubelet's atomic writer publishes
 * an update by swapping the `..data` link to a new timestamp directory; each swap (seen by an
 * fs.watch event, or by a periodic check in case an event is missed) triggers a new unseal pass.
 */

export interface WatchOptions {
  dir: string;
  unsealer: Unsealer;
  onPass: (outcomes: FileOutcome[]) => void;
  onError?: (e: unknown) => void;
  /** Periodic re-check of `..data`; default 2000 ms. */
  pollMs?: number;
  signal?: AbortSignal;
}

async function generation(dir: string): Promise<string> {
  return readlink(join(dir, '..data')).catch(() => '');
}

/** Runs one pass now, then one per `..data` change, until the signal aborts. */
export async function watchDirectory(o: WatchOptions): Promise<void> {
  let last = '';
  let running: Promise<void> = Promise.resolve();
  let queued = false;
  const pass = () => {
    if (queued) return;
    queued = true;
    running = running.then(async () => {
      queued = false;
      const gen = await generation(o.dir);
      try {
        o.onPass(await unsealDirectory(o.dir, o.unsealer));
        last = gen;
      } catch (e) {
        o.onError?.(e);
      }
    });
  };
  pass();
  await running;
  const watcher = fsWatch(o.dir, { persistent: true }, (_event, name) => {
    if (name === null || name === '..data' || !String(name).startsWith('..')) pass();
  });
  watcher.on('error', (e) => o.onError?.(e));
  const timer = setInterval(async () => {
    if ((await generation(o.dir)) !== last) pass();
  }, o.pollMs ?? 2000);
  await new Promise<void>((resolve) => {
    if (o.signal?.aborted) resolve();
    o.signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  clearInterval(timer);
  watcher.close();
  await running;
}
