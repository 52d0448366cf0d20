import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, readdir, readFile, readlink, realpath, rename, stat, symlink } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { describeError } from '../../common/errors.js';
import type { Unsealer } from '../hub.js';

/*
 * Unsealing the files of a Secret volume in place (cdh.md §8.4), compatible with kata's layout and
 * better than it: a file is sealed iff its first 7 bytes are `sealed.`; the plaintext goes to
 * `<target>.unsealed` beside the real file, with the sealed file's mode, written to a temp file,
 * fsynced and renamed; the visible entry becomes a symlink to it, swapped atomically (rename over
 * the old link), and it always points at the file that exists (upstream's link dangles for plain
 * files). In the kubelet atomic-writer layout the current `..data/<name>` is used, so a Secret update
 * (a new timestamp directory) is picked up by running this again.
 */

export const SEALED_MAGIC = Buffer.from('sealed.');

export interface FileOutcome {
  /** The visible entry, e.g. `/etc/secret/password`. */
  entry: string;
  status: 'unsealed' | 'error';
  /** For errors: `REASON: detail` (never plaintext). */
  error?: string;
}

async function startsSealed(path: string): Promise<boolean> {
  const fh = await open(path, constants.O_RDONLY);
  try {
    const buf = Buffer.alloc(SEALED_MAGIC.length);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return bytesRead === buf.length && buf.equals(SEALED_MAGIC);
  } finally {
    await fh.close();
  }
}

async function writeAtomically(path: string, data: Uint8Array, mode: number): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

async function replaceWithSymlink(entry: string, target: string): Promise<void> {
  const tmp = join(dirname(entry), `.${basename(entry)}.${randomBytes(4).toString('hex')}.link`);
  await symlink(relative(dirname(entry), target), tmp);
  await rename(tmp, entry);
}

/** Which file an entry shows: `..data/<name>` in the atomic-writer layout, else the entry's own target. */
async function sourceOf(dir: string, name: string): Promise<string | undefined> {
  const viaData = join(dir, '..data', name);
  try {
    if ((await stat(viaData)).isFile()) return await realpath(viaData);
  } catch {}
  try {
    const target = await realpath(join(dir, name));
    return (await stat(target)).isFile() ? target : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Unseals every sealed file directly in `dir`. Entries that are not regular files or symlinks to
 * regular files are skipped. Returns one outcome per sealed entry; never throws for a single file.
 */
export async function unsealDirectory(dir: string, unsealer: Unsealer): Promise<FileOutcome[]> {
  const outcomes: FileOutcome[] = [];
  const names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  for (const name of names) {
    const entry = join(dir, name);
    const info = await lstat(entry).catch(() => undefined);
    if (!info || !(info.isFile() || info.isSymbolicLink())) continue;
    const source = await sourceOf(dir, name);
    if (!source || source.endsWith('.unsealed')) continue;
    const out = `${source}.unsealed`;
    const current = info.isSymbolicLink() ? await readlink(entry).catch(() => '') : '';
    // Already done in an earlier pass (the timestamp directory is immutable once published).
    if (current === relative(dir, out) && (await stat(out).catch(() => undefined))?.isFile()) continue;
    try {
      if (!(await startsSealed(source))) continue;
      const sealed = await readFile(source);
      const plaintext = await unsealer.unseal(sealed);
      const mode = (await stat(source)).mode & 0o777;
      await writeAtomically(out, plaintext, mode);
      if (current !== relative(dir, out)) await replaceWithSymlink(entry, out);
      outcomes.push({ entry, status: 'unsealed' });
    } catch (e) {
      outcomes.push({ entry, status: 'error', error: describeError(e) });
    }
  }
  return outcomes;
}
