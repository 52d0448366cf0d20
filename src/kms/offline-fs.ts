import { readFileSync } from 'node:fs';
import { decodeStd } from '../crypto/base64.js';
import { parseResourceUri } from '../sealed/resource-uri.js';
import { KmsError } from './errors.js';
import type { ResourceGetter } from './resource-getter.js';

/*
 * `offline_fs_kbc` (sealed-secret.md §7): resources from local JSON files mapping `repo/type/tag` to
 * standard base64. Only safe when the guest rootfs itself is confidential and measured.
 */

export const OFFLINE_FS_DEFAULT_FILES = [
  '/etc/aa-offline_fs_kbc-keys.json',
  '/etc/aa-offline_fs_kbc-resources.json',
];

export interface OfflineFsOptions {
  /** Files to read, in order; later ones override earlier ones. Default: the upstream paths plus `OFFLINE_FS_KBC_EXTRA_FILE_PATH`. */
  files?: string[];
  /** Receives non-fatal warnings (skipped files, overrides). Paths only, never values. */
  warn?: (message: string) => void;
}

export function offlineFsFilesFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  const extra = env.OFFLINE_FS_KBC_EXTRA_FILE_PATH;
  return [...OFFLINE_FS_DEFAULT_FILES, ...(extra ? extra.split(',').filter((p) => p !== '') : [])];
}

export class OfflineFsResourceGetter implements ResourceGetter {
  private readonly files: string[];
  private readonly warn: (message: string) => void;

  constructor(opts: OfflineFsOptions = {}) {
    this.files = opts.files ?? offlineFsFilesFromEnv();
    this.warn = opts.warn ?? (() => {});
  }

  /** Files are re-read on every call, as upstream builds a new client per call. */
  private load(): Map<string, Buffer> {
    const map = new Map<string, Buffer>();
    for (const file of this.files) {
      let text: string;
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        // The two upstream default files are usually absent; only an explicitly named file is worth a warning.
        if (!OFFLINE_FS_DEFAULT_FILES.includes(file))
          this.warn(`offline-fs-kbc: skipping unreadable resource file ${file}`);
        continue;
      }
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch (e) {
        throw new KmsError('KMS_FAILED', `offline-fs-kbc: illegal resource file ${file}: not JSON`, {
          cause: e,
        });
      }
      if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
        throw new KmsError(
          'KMS_FAILED',
          `offline-fs-kbc: illegal resource file ${file}: must be a JSON object`,
        );
      }
      for (const [key, value] of Object.entries(doc)) {
        if (typeof value !== 'string') {
          throw new KmsError(
            'KMS_FAILED',
            `offline-fs-kbc: illegal resource file ${file}: value of ${key} is not a string`,
          );
        }
        let bytes: Buffer;
        try {
          bytes = decodeStd(value);
        } catch (e) {
          throw new KmsError(
            'KMS_FAILED',
            `offline-fs-kbc: decode value from file ${file} failed: ${key} is not standard base64`,
            {
              cause: e,
            },
          );
        }
        if (map.has(key)) this.warn(`offline-fs-kbc: ${file} overrides resource ${key}`);
        map.set(key, bytes);
      }
    }
    return map;
  }

  async get(uri: string): Promise<Uint8Array> {
    let path: string;
    try {
      path = parseResourceUri(uri).path;
    } catch (e) {
      throw new KmsError('RESOURCE_URI_INVALID', `illegal kbs resource uri: ${uri}`, { cause: e });
    }
    const value = this.load().get(path);
    if (value === undefined)
      throw new KmsError('RESOURCE_NOT_FOUND', `offline-fs-kbc: resource not found ${path}`);
    return value;
  }
}
