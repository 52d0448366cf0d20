import { timingSafeEqual } from 'node:crypto';
import { constants, type Dirent } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError } from './storage/errors.js';
import { checkKey, checkNamespace } from './storage/keys.js';
import { FLATTENED_SLASH, unflattenKey } from './storage/localfs.js';
import type { Storage } from './storage/storage.js';

/*
 * Migration from an upstream Trustee LocalFs directory (kbs-protocol.md §10): `<dir>/<namespace>/<key
 * with "/" written as the four characters \x2F>`, raw bytes. Namespace names are the same as ours
 * (`NS`), so entries are copied one-to-one. The whole directory is scanned and validated before
 * anything is written: a malformed entry refuses the import (unless `skipMalformed`) rather than
 * leaving a half-migrated store.
 */

export interface TrusteeEntry {
  namespace: string;
  key: string;
  /** Path relative to the import directory, for messages. */
  file: string;
  size: number;
}

export interface MalformedEntry {
  /** Path relative to the import directory. */
  file: string;
  reason: string;
}

export interface TrusteeScan {
  entries: TrusteeEntry[];
  malformed: MalformedEntry[];
}

export interface TrusteeImportProgress {
  done: number;
  total: number;
  namespace: string;
  key: string;
  outcome: 'imported' | 'unchanged' | 'conflict';
}

export interface TrusteeImportOptions {
  onProgress?: (p: TrusteeImportProgress) => void;
  /** Replace existing keys whose value differs (default: keep them and report a conflict). */
  overwrite?: boolean;
  /** Import the well-formed entries and report the others (default: refuse the whole import). */
  skipMalformed?: boolean;
  /** Validate and compare only; write nothing. */
  dryRun?: boolean;
  /** Largest value accepted, in bytes (default 16 MiB). */
  maxValueBytes?: number;
}

export interface TrusteeImportResult {
  total: number;
  imported: number;
  /** Already present with identical bytes. */
  unchanged: number;
  /** Present with different bytes and not overwritten. */
  conflicts: { namespace: string; key: string }[];
  malformed: MalformedEntry[];
  byNamespace: Record<string, number>;
}

const DEFAULT_MAX_VALUE = 16 * 1024 * 1024;

function why(e: unknown): string {
  return e instanceof StorageError ? e.message : String((e as { code?: string })?.code ?? e);
}

/** Lists and validates every entry of a Trustee LocalFs directory without reading values. */
export async function scanTrusteeLocalFs(
  dir: string,
  opts: { maxValueBytes?: number } = {},
): Promise<TrusteeScan> {
  const max = opts.maxValueBytes ?? DEFAULT_MAX_VALUE;
  let top: Dirent[];
  try {
    const st = await lstat(dir);
    if (!st.isDirectory()) throw new StorageError('MALFORMED_ENTRY', `${dir} is not a directory`);
    top = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if (e instanceof StorageError) throw e;
    throw new StorageError(
      'STORAGE_UNAVAILABLE',
      `cannot read Trustee LocalFs directory ${dir} (${why(e)})`,
      {
        cause: e,
      },
    );
  }
  const entries: TrusteeEntry[] = [];
  const malformed: MalformedEntry[] = [];
  for (const ns of top.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (!ns.isDirectory()) {
      malformed.push({
        file: ns.name,
        reason: ns.isSymbolicLink()
          ? 'symbolic link at the top level (not followed)'
          : 'not a directory: the top level holds one directory per namespace',
      });
      continue;
    }
    try {
      checkNamespace(ns.name);
    } catch (e) {
      malformed.push({ file: `${ns.name}/`, reason: `invalid namespace name: ${why(e)}` });
      continue;
    }
    const files = await readdir(join(dir, ns.name), { withFileTypes: true });
    for (const f of files.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const file = `${ns.name}/${f.name}`;
      if (f.isDirectory()) {
        malformed.push({
          file,
          reason: `nested directory: LocalFs stores keys flat, with "/" written as ${FLATTENED_SLASH}`,
        });
        continue;
      }
      if (f.isSymbolicLink()) {
        malformed.push({ file, reason: 'symbolic link (not followed)' });
        continue;
      }
      if (!f.isFile()) {
        malformed.push({ file, reason: 'not a regular file' });
        continue;
      }
      const key = unflattenKey(f.name);
      try {
        checkKey(key);
      } catch (e) {
        const hint = key.includes('\\') ? ` (only the exact sequence ${FLATTENED_SLASH} stands for "/")` : '';
        malformed.push({ file, reason: `invalid key: ${why(e)}${hint}` });
        continue;
      }
      const st = await lstat(join(dir, ns.name, f.name));
      if (st.size > max) {
        malformed.push({ file, reason: `value is ${st.size} bytes, above the ${max}-byte limit` });
        continue;
      }
      entries.push({ namespace: ns.name, key, file, size: st.size });
    }
  }
  return { entries, malformed };
}

async function readNoFollow(path: string, max: number): Promise<Uint8Array> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const v = await fh.readFile();
    if (v.byteLength > max)
      throw new StorageError('MALFORMED_ENTRY', `${path} grew above ${max} bytes while importing`);
    return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  } finally {
    await fh.close();
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

/**
 * Imports a Trustee LocalFs directory into `storage`. Refuses (StorageError `MALFORMED_ENTRY`, listing
 * the entries) when any entry is malformed, unless `skipMalformed`. Existing keys with identical bytes
 * count as `unchanged`; differing ones are `conflicts` unless `overwrite`. Never logs values.
 */
export async function importTrusteeLocalFs(
  fromDir: string,
  storage: Storage,
  opts: TrusteeImportOptions = {},
): Promise<TrusteeImportResult> {
  const max = opts.maxValueBytes ?? DEFAULT_MAX_VALUE;
  const scan = await scanTrusteeLocalFs(fromDir, { maxValueBytes: max });
  if (scan.malformed.length > 0 && !opts.skipMalformed) {
    const shown = scan.malformed.slice(0, 10).map((m) => `${m.file}: ${m.reason}`);
    const more = scan.malformed.length > 10 ? `; and ${scan.malformed.length - 10} more` : '';
    throw new StorageError(
      'MALFORMED_ENTRY',
      `${scan.malformed.length} malformed entr${scan.malformed.length === 1 ? 'y' : 'ies'} in ${fromDir}, nothing imported: ${shown.join('; ')}${more}. Fix or remove them, or import the rest with --skip-malformed`,
    );
  }
  const result: TrusteeImportResult = {
    total: scan.entries.length,
    imported: 0,
    unchanged: 0,
    conflicts: [],
    malformed: scan.malformed,
    byNamespace: {},
  };
  let done = 0;
  for (const e of scan.entries) {
    const value = await readNoFollow(join(fromDir, e.namespace, e.file.slice(e.namespace.length + 1)), max);
    let outcome: TrusteeImportProgress['outcome'];
    const existing = await storage.get(e.namespace, e.key);
    if (existing !== undefined && sameBytes(existing, value)) {
      outcome = 'unchanged';
    } else if (existing !== undefined && !opts.overwrite) {
      outcome = 'conflict';
    } else {
      if (!opts.dryRun) {
        try {
          // Create-only unless overwriting, so a value written concurrently by a running KBS is kept.
          await storage.set(e.namespace, e.key, value, { overwrite: opts.overwrite === true });
        } catch (err) {
          if (!(err instanceof StorageError && err.code === 'ALREADY_EXISTS')) throw err;
          const now = await storage.get(e.namespace, e.key);
          outcome = now !== undefined && sameBytes(now, value) ? 'unchanged' : 'conflict';
        }
      }
      outcome ??= 'imported';
    }
    if (outcome === 'imported') {
      result.imported++;
      result.byNamespace[e.namespace] = (result.byNamespace[e.namespace] ?? 0) + 1;
    } else if (outcome === 'unchanged') {
      result.unchanged++;
    } else {
      result.conflicts.push({ namespace: e.namespace, key: e.key });
    }
    done++;
    opts.onProgress?.({ done, total: scan.entries.length, namespace: e.namespace, key: e.key, outcome });
  }
  return result;
}
