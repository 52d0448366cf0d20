import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeStd, encodeStd } from '../../crypto/base64.js';
import { readCredentialFile } from '../credential-file.js';
import { credentialDir } from '../credentials.js';
import { KmsError } from '../errors.js';
import type { JsonObject, KmsProvider, ProviderFactory, WrappedKey } from '../provider.js';
import { checkEndpoint, EHSM_PROVIDER, EhsmClient, ehsmFailed } from './client.js';

/*
 * The `ehsm` provider (sealed-secret.md §6.4): envelope only.
 *
 * Upstream's double base64, kept byte for byte: Encrypt sends STD(DEK) and gets a base64 string back;
 * the provider returns that string's UTF-8 bytes as the wrapped key, which the sealer STD-encodes again
 * into `encrypted_key`. Unwrapping reverses it: the STD-decoded `encrypted_key` is the eHSM ciphertext
 * string, and the plaintext eHSM returns is STD(DEK).
 */

export const EHSM_KEY_PATH_ENV = 'EHSM_IN_GUEST_KEY_PATH';

export interface EhsmCredential {
  appId: string;
  apiKey: string;
}

/** The optional CA file: absent means the system roots. */
async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw ehsmFailed(`cannot read ${path}`, e);
  }
}

/** `{"AppId", "ApiKey"}` (upstream credential file). */
export async function readEhsmCredential(path: string): Promise<EhsmCredential> {
  const text = await readCredentialFile(path, 'credential file', EHSM_PROVIDER);
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text);
  } catch {
    throw ehsmFailed(`credential file ${path} is not valid JSON`);
  }
  if (typeof doc?.AppId !== 'string' || !doc.AppId || typeof doc.ApiKey !== 'string' || !doc.ApiKey) {
    throw ehsmFailed(`credential file ${path} needs string members AppId and ApiKey`);
  }
  return { appId: doc.AppId, apiKey: doc.ApiKey };
}

function checkAppId(v: unknown): string {
  if (typeof v !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(v) || v === '.' || v === '..') {
    throw ehsmFailed("provider_settings.app_id must be an id made of letters, digits, '.', '_' or '-'");
  }
  return v;
}

export class EhsmProvider implements KmsProvider {
  readonly name = EHSM_PROVIDER;
  private client: Promise<EhsmClient> | undefined;

  constructor(private readonly connect: () => Promise<EhsmClient>) {}

  private ehsm(): Promise<EhsmClient> {
    this.client ??= this.connect();
    return this.client;
  }

  async wrapKey(dek: Uint8Array, keyId: string): Promise<WrappedKey> {
    const result = await (await this.ehsm()).call('Encrypt', { keyid: keyId, plaintext: encodeStd(dek) });
    if (typeof result.ciphertext !== 'string' || !result.ciphertext)
      throw ehsmFailed('Encrypt returned no ciphertext');
    return { encryptedKey: new Uint8Array(Buffer.from(result.ciphertext, 'utf8')), annotations: {} };
  }

  async unwrapKey(encryptedKey: Uint8Array, keyId: string, _annotations: JsonObject): Promise<Uint8Array> {
    const ciphertext = Buffer.from(encryptedKey).toString('utf8');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(ciphertext)) {
      throw ehsmFailed('encrypted_key does not hold an eHSM ciphertext (expected double base64)');
    }
    const result = await (await this.ehsm()).call('Decrypt', { keyid: keyId, ciphertext });
    if (typeof result.plaintext !== 'string') throw ehsmFailed('Decrypt returned no plaintext');
    try {
      return new Uint8Array(decodeStd(result.plaintext, 'plaintext'));
    } catch (e) {
      throw ehsmFailed('Decrypt returned a plaintext that is not base64', e);
    }
  }

  async getSecret(): Promise<Uint8Array> {
    throw new KmsError('PROVIDER_UNSUPPORTED', 'the ehsm provider has no vault (get_secret)', {
      provider: EHSM_PROVIDER,
    });
  }
}

/** Optional trust anchor for the eHSM endpoint, next to the credential: `ca_<app_id>.pem` (ours). */
export function ehsmCaFile(dir: string, appId: string): string {
  return join(dir, `ca_${appId}.pem`);
}

/**
 * Unseal side: `provider_settings` = `{"app_id", "endpoint"}`; `credential_<app_id>.json` (and optionally
 * `ca_<app_id>.pem`) in `--key-path`, else `$EHSM_IN_GUEST_KEY_PATH`, else `<cred-root>/ehsm`.
 */
export const ehsmProvider: ProviderFactory = (ctx) => {
  const appId = checkAppId(ctx.settings.app_id);
  const endpoint = ctx.settings.endpoint;
  checkEndpoint(endpoint);
  const dir = credentialDir(ctx.credentialDir, EHSM_KEY_PATH_ENV, EHSM_PROVIDER);
  return new EhsmProvider(async () => {
    const cred = await readEhsmCredential(join(dir, `credential_${appId}.json`));
    if (cred.appId !== appId) {
      throw ehsmFailed(`credential_${appId}.json is for AppId ${cred.appId}, not ${appId}`);
    }
    const ca = await readOptional(ehsmCaFile(dir, appId));
    return new EhsmClient(appId, cred.apiKey, endpoint as string, ca);
  });
};
