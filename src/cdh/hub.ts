import { CocosealError } from '../common/errors.js';
import { aes256GcmDecrypt } from '../crypto/aes-gcm.js';
import { decodeStd } from '../crypto/base64.js';
import { KmsError } from '../kms/errors.js';
import type { ResourceGetter } from '../kms/resource-getter.js';
import { KidResolver } from '../kms/verification-keys.js';
import { SealedSecretError } from '../sealed/errors.js';
import { parseResourceUri } from '../sealed/resource-uri.js';
import type { CdhConfig } from './config.js';
import { CachingKeyResolver } from './kid-cache.js';
import type { VerifiedSecretMemo } from './verified-memo.js';

/*
 * The Confidential Data Hub's core (cdh.md §2.2, §6): unseal, get-resource and image-key unwrap over
 * one long-lived resource getter, so one attestation serves every call for a token's lifetime.
 * Transport-free: the ttRPC server and `cdh exec` both call it.
 */

export interface Unsealer {
  unseal(sealed: Uint8Array): Promise<Uint8Array>;
}

export interface HubLogger {
  warn(message: string): void;
}

/*
 * Signature verification (with its curve library) and the KMS provider registry load on the first
 * unseal, not at daemon start: the start path only needs to serve the socket (issue 4).
 */
let unsealModules:
  | Promise<
      [
        typeof import('../sealed/unseal.js'),
        typeof import('../kms/registry.js'),
        typeof import('./verified-memo.js'),
      ]
    >
  | undefined;
const loadUnsealModules = () => {
  unsealModules ??= Promise.all([
    import('../sealed/unseal.js'),
    import('../kms/registry.js'),
    import('./verified-memo.js'),
  ]);
  return unsealModules;
};

// Valid sealed strings contain no whitespace, so trimming ASCII whitespace is safe and fixes
// Secrets created from files with a trailing newline (cdh.md §9 #6).
const ASCII_WS = /^[\t\n\v\f\r ]+|[\t\n\v\f\r ]+$/g;

export class ConfidentialDataHub implements Unsealer {
  private readonly keys: CachingKeyResolver;
  private verified: VerifiedSecretMemo | undefined;

  constructor(
    private readonly config: CdhConfig,
    readonly resources: ResourceGetter,
    private readonly env: NodeJS.ProcessEnv = process.env,
    private readonly log: HubLogger = { warn: () => {} },
  ) {
    this.keys = new CachingKeyResolver(
      new KidResolver({ keyDir: config.verificationKeyDir, resources }),
      config.kidCacheTtlSeconds * 1000,
    );
  }

  /** Skipping is on when the config says so or, checked on every call as upstream does, env says exactly `true`. */
  private skipVerification(): boolean {
    return this.config.skipSealedSecretVerification || this.env.SKIP_SEALED_SECRET_VERIFICATION === 'true';
  }

  async unseal(sealed: Uint8Array): Promise<Uint8Array> {
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(sealed).replace(ASCII_WS, '');
    } catch {
      throw new SealedSecretError('BAD_FORMAT', 'parse SealedSecret failed: Secret string must be UTF-8');
    }
    const skip = this.skipVerification();
    if (skip) this.log.warn('unsealing WITHOUT signature verification (skip_sealed_secret_verification)');
    const [{ openSealedSecret, revealPayload }, { createProvider, loadProviders }, memo] =
      await loadUnsealModules();
    this.verified ??= new memo.VerifiedSecretMemo();
    const payload = skip
      ? await openSealedSecret(text, { keys: this.keys, skipVerification: true })
      : await this.verified.open(text, this.keys);
    // A verified payload names its provider: load that one's module only (a no-op after the first).
    if (typeof payload.provider === 'string') await loadProviders([payload.provider]);
    return revealPayload(payload, (name, settings) =>
      createProvider(name, settings, { resources: this.resources }),
    );
  }

  async getResource(uri: string): Promise<Uint8Array> {
    parseResourceUri(uri);
    return this.resources.get(uri);
  }

  /**
   * ocicrypt key-provider unwrap (cdh.md §2.4): the annotation packet names a KEK (`kid`, a resource
   * URI) and the wrapped layer key; the KEK is fetched from the KBS and the key unwrapped with it.
   */
  async unwrapKey(annotation: Uint8Array): Promise<Uint8Array> {
    let packet: Record<string, unknown>;
    try {
      packet = JSON.parse(Buffer.from(annotation).toString('utf8'));
    } catch {
      throw new SealedSecretError('BAD_FORMAT', 'annotation packet is not JSON');
    }
    const { kid, wrapped_data: wrapped, iv, wrap_type: wrapType } = packet as Record<string, string>;
    if (typeof kid !== 'string' || typeof wrapped !== 'string' || typeof iv !== 'string') {
      throw new SealedSecretError('BAD_FORMAT', 'annotation packet needs kid, wrapped_data and iv');
    }
    if (wrapType !== undefined && wrapType !== 'A256GCM')
      throw new SealedSecretError('BAD_FORMAT', `unsupported wrap_type ${wrapType}`);
    const kek = await this.resources.get(kid);
    try {
      return aes256GcmDecrypt(kek, decodeStd(iv, 'iv'), decodeStd(wrapped, 'wrapped_data'));
    } catch (e) {
      if (e instanceof CocosealError)
        throw new KmsError('KMS_FAILED', `cannot unwrap the image key with ${kid}: ${e.message}`, {
          cause: e,
        });
      throw e;
    }
  }
}
