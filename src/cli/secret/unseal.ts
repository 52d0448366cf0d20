import { readFile, writeFile } from 'node:fs/promises';
import { CocosealError } from '../../common/errors.js';
import { resourceGetterFromKbcParams } from '../../kms/kbc-params.js';
import { createProvider } from '../../kms/registry.js';
import type { ResourceGetter } from '../../kms/resource-getter.js';
import { KidResolver } from '../../kms/verification-keys.js';
import { unsealSecret } from '../../sealed/unseal.js';
import { UsageError } from '../run.js';

export interface UnsealFileOptions {
  filePath: string;
  /** Credential directory for aliyun/aws/ehsm/pkcs11 (`--key-path`). */
  keyPath?: string;
  /** `offline_fs_kbc::null` or `cc_kbc::URL`; falls back to env AA_KBC_PARAMS. */
  aaKbcParams?: string;
  skipVerification?: boolean;
  /** Local verification-key directory (default /run/confidential-containers/cdh/sealed-secret). */
  keyDir?: string;
  /** Extra trusted root for cc_kbc (PEM file). */
  certFile?: string;
  warn?: (m: string) => void;
}

// Rust's str::trim strips Unicode White_Space, which unlike String.prototype.trim excludes U+FEFF.
const RUST_WS = '[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
const LEADING = new RegExp(`^${RUST_WS}+`);
const TRAILING = new RegExp(`${RUST_WS}+$`);

export function rustTrim(s: string): string {
  return s.replace(LEADING, '').replace(TRAILING, '');
}

/** `secret unseal`: returns the plaintext (the caller decides where it goes). */
export async function unsealFile(o: UnsealFileOptions): Promise<Uint8Array> {
  let raw: Buffer;
  try {
    raw = await readFile(o.filePath);
  } catch {
    throw new UsageError(`cannot read --file-path ${o.filePath}`);
  }
  let text: string;
  try {
    text = rustTrim(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch {
    throw new CocosealError('BAD_FORMAT', 'parse SealedSecret failed: Secret string must be UTF-8');
  }
  const params = o.aaKbcParams ?? process.env.AA_KBC_PARAMS;
  const certPem = o.certFile ? await readFile(o.certFile, 'utf8') : undefined;
  // Applied before verification, so a kid that is a KBS URI can be fetched (upstream needs the env var preset).
  const resources: ResourceGetter | undefined = params
    ? resourceGetterFromKbcParams(params, { certPem, warn: o.warn })
    : undefined;
  return unsealSecret(text, {
    keys: new KidResolver({ keyDir: o.keyDir, resources }),
    providers: (name, settings) => createProvider(name, settings, { credentialDir: o.keyPath, resources }),
    skipVerification: o.skipVerification,
  });
}

/** Writes `<file>.unsealed` exclusively (never overwrites), mode 0600. */
export async function writeUnsealed(path: string, plaintext: Uint8Array): Promise<void> {
  try {
    await writeFile(path, plaintext, { flag: 'wx', mode: 0o600 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new CocosealError(
        'FILE_EXISTS',
        `${path} already exists; refusing to overwrite (remove it or use --output -)`,
      );
    }
    throw new CocosealError('IO_ERROR', `cannot write ${path}: ${(e as Error).message}`);
  }
}
