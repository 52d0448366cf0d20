import { realpathSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { readCredentialFile } from '../credential-file.js';
import type { JsonObject } from '../provider.js';
import { pkcs11Failed } from './errors.js';

/** `provider_settings` of a `pkcs11` envelope (ours). */
export interface Pkcs11Settings {
  /** Absolute path of the PKCS#11 module (shared library). */
  module: string;
  /** CKA_LABEL of the token (without the blank padding). */
  token_label: string;
  /** CKA_LABEL of the AES key-encryption key inside the token. */
  key_label: string;
}

/** How the DEK is wrapped inside the token; recorded in the envelope's `annotations.mechanism`. */
export const MECHANISMS = ['CKM_AES_KEY_WRAP_PAD', 'CKM_AES_KEY_WRAP', 'CKM_AES_GCM'] as const;
export type Mechanism = (typeof MECHANISMS)[number];
export const DEFAULT_MECHANISM: Mechanism = 'CKM_AES_KEY_WRAP_PAD';

export function isMechanism(s: unknown): s is Mechanism {
  return typeof s === 'string' && (MECHANISMS as readonly string[]).includes(s);
}

function requiredString(settings: JsonObject, key: string): string {
  const v = settings[key];
  if (typeof v !== 'string' || v.length === 0) {
    throw pkcs11Failed(`provider_settings.${key} must be a non-empty string`);
  }
  return v;
}

export function parseSettings(settings: JsonObject): Pkcs11Settings {
  const s: Pkcs11Settings = {
    module: requiredString(settings, 'module'),
    token_label: requiredString(settings, 'token_label'),
    key_label: requiredString(settings, 'key_label'),
  };
  checkTokenLabel(s.token_label);
  return s;
}

/** Token labels are at most 32 bytes; they also name the PIN file, so no path separators. */
export function checkTokenLabel(label: string): void {
  if (Buffer.byteLength(label, 'utf8') > 32) throw pkcs11Failed('token label is longer than 32 bytes');
  if (label !== label.trim() || /[/\\\u0000]/.test(label) || label === '.' || label === '..') {
    throw pkcs11Failed(
      `token label '${label}' cannot name a PIN file (no slashes, NUL, surrounding blanks, '.' or '..')`,
    );
  }
}

/** The PIN file in a credential directory: `pin_<token_label>.txt`, raw text. */
export function pinFileName(tokenLabel: string): string {
  return `pin_${tokenLabel}.txt`;
}

/** Reads a PIN file (raw text; trailing whitespace such as the final newline is trimmed). */
export async function readPinFile(path: string): Promise<string> {
  const text = await readCredentialFile(path, 'PIN file', 'pkcs11');
  const pin = text.replace(/\s+$/, '');
  if (pin.length === 0) throw pkcs11Failed(`PIN file ${path} is empty`);
  return pin;
}

export function pinPath(credentialDir: string, tokenLabel: string): string {
  return join(credentialDir, pinFileName(tokenLabel));
}

/*
 * The module path comes from a (signed) payload, and loading it runs its code in this process. So at
 * unseal time only modules in system library directories are loaded, unless PKCS11_ALLOWED_MODULES
 * names the allowed modules explicitly (comma- or colon-separated absolute paths).
 */
const SYSTEM_LIBRARY_DIRS = ['/usr/lib/', '/usr/lib64/', '/usr/local/lib/', '/lib/', '/lib64/', '/opt/'];

export function checkModuleAllowed(path: string, allowList = process.env.PKCS11_ALLOWED_MODULES): string {
  if (!isAbsolute(path)) throw pkcs11Failed(`module path '${path}' must be absolute`);
  let real: string;
  try {
    real = realpathSync(path);
  } catch (e) {
    throw pkcs11Failed(`PKCS#11 module ${path} not found`, e);
  }
  if (allowList !== undefined && allowList.trim() !== '') {
    const allowed = allowList
      .split(/[,:]/)
      .map((s) => s.trim())
      .filter(Boolean)
      .flatMap((p) => {
        try {
          return [p, realpathSync(p)];
        } catch {
          return [p];
        }
      });
    if (!allowed.includes(real)) {
      throw pkcs11Failed(`PKCS#11 module ${path} is not listed in PKCS11_ALLOWED_MODULES`);
    }
    return path;
  }
  if (!SYSTEM_LIBRARY_DIRS.some((d) => real.startsWith(d))) {
    throw pkcs11Failed(
      `PKCS#11 module ${path} is outside the system library directories; list it in PKCS11_ALLOWED_MODULES`,
    );
  }
  return path;
}
