import { randomBytes } from 'node:crypto';
import { constants, type FileHandle, link, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError } from './errors.js';
import { checkKey, checkNamespace, checkPrefix, checkValue, isValidKey } from './keys.js';
import type { Storage } from './storage.js';

/*
 * Upstream Trustee `LocalFs` layout (kbs-protocol.md §10, §15 item 11): one flat file per key,
 * `<dir>/<namespace>/<key with "/" replaced by the 4 characters \x2F>`, raw bytes. Reading it in place
 * keeps an existing Trustee directory (and the upstream e2e setup) working unchanged.
 *
 * Writes go to a dot-prefixed temporary file (keys cannot start with "."), are fsynced, then renamed
 * (or hard-linked for create-only) over the target, and the directory is fsynced: a crash leaves
 * the old value or the new one, never a torn file. Reads refuse symlinks.
 */

export const FLATTENED_SLASH = '\\x2F';

export function flattenKey(key: string): string {
  return key.replaceAll('/', FLATTENED_SLASH);
}

export function unflattenKey(name: string): string {
  return name.replaceAll(FLATTENED_SLASH, '/');
}

function fsError(what: string, e: unknown): StorageError {
  if (e instanceof StorageError) return e;
  const code = String((e as { code?: string })?.code ?? 'unknown');
  return new StorageError('STORAGE_UNAVAILABLE', `LocalFs ${what} failed (${code})`, { cause: e });
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class LocalFsStorage implements Storage {
  readonly #dir: string;
  #closed = false;

  constructor(dirPath: string) {
    this.#dir = dirPath;
  }

  #nsDir(namespace: string): string {
    return join(this.#dir, ...namespace.split('/'));
  }

  async set(
    namespace: string,
    key: string,
    value: Uint8Array,
    opts?: { overwrite?: boolean },
  ): Promise<void> {
    checkNamespace(namespace);
    checkKey(key);
    checkValue(value);
    this.#open();
    const dir = this.#nsDir(namespace);
    const target = join(dir, flattenKey(key));
    const tmp = join(dir, `.tmp-${randomBytes(8).toString('hex')}`);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writeFile(value);
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (opts?.overwrite === false) {
        try {
          await link(tmp, target); // atomic create-if-absent
        } catch (e) {
          if ((e as { code?: string }).code === 'EEXIST') {
            throw new StorageError('ALREADY_EXISTS', `${namespace}/${key} already exists`);
          }
          throw e;
        } finally {
          await unlink(tmp).catch(() => {});
        }
      } else {
        await rename(tmp, target);
      }
      await fsyncDir(dir);
    } catch (e) {
      await unlink(tmp).catch(() => {});
      throw fsError('write', e);
    }
  }

  async get(namespace: string, key: string): Promise<Uint8Array | undefined> {
    checkNamespace(namespace);
    checkKey(key);
    this.#open();
    let fh: FileHandle;
    try {
      fh = await open(
        join(this.#nsDir(namespace), flattenKey(key)),
        constants.O_RDONLY | constants.O_NOFOLLOW,
      );
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return undefined;
      throw fsError('read', e);
    }
    try {
      return new Uint8Array(await fh.readFile());
    } catch (e) {
      throw fsError('read', e);
    } finally {
      await fh.close();
    }
  }

  async delete(namespace: string, key: string): Promise<boolean> {
    checkNamespace(namespace);
    checkKey(key);
    this.#open();
    const dir = this.#nsDir(namespace);
    try {
      await unlink(join(dir, flattenKey(key)));
      await fsyncDir(dir);
      return true;
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return false;
      throw fsError('delete', e);
    }
  }

  async list(namespace: string, prefix = ''): Promise<string[]> {
    checkNamespace(namespace);
    checkPrefix(prefix);
    this.#open();
    let names: string[];
    try {
      names = await readdir(this.#nsDir(namespace));
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return [];
      throw fsError('list', e);
    }
    // Skips temporary files and anything that does not decode to a valid key.
    return names
      .map(unflattenKey)
      .filter((k) => isValidKey(k) && k.startsWith(prefix))
      .sort();
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #open(): void {
    if (this.#closed) throw new StorageError('STORAGE_UNAVAILABLE', 'LocalFs storage is closed');
  }
}
