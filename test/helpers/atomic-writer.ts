import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Publishes Secret data into `dir` the way the kubelet's atomic writer does: a new `..<timestamp>`
 * directory, the `..data` link swapped to it by rename, a `<key> -> ..data/<key>` link created for
 * new keys only, and the previous timestamp directory removed.
 */
export function publishSecret(dir: string, files: Record<string, string | Buffer>, mode = 0o644): string {
  mkdirSync(dir, { recursive: true });
  const ts = `..${new Date().toISOString().replace(/[-:T]/g, '_').replace(/\..*/, '')}.${randomBytes(4).readUInt32BE()}`;
  mkdirSync(join(dir, ts));
  for (const [k, v] of Object.entries(files)) writeFileSync(join(dir, ts, k), v, { mode });
  let previous: string | undefined;
  try {
    previous = readlinkSync(join(dir, '..data'));
  } catch {}
  symlinkSync(ts, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const k of Object.keys(files)) {
    try {
      lstatSync(join(dir, k));
    } catch {
      symlinkSync(join('..data', k), join(dir, k));
    }
  }
  if (previous) rmSync(join(dir, previous), { recursive: true, force: true });
  return ts;
}
