import { aesKeyUnwrap, aesKeyWrap } from '../../crypto/aes-kw.js';
import { CryptoError } from '../../crypto/errors.js';
import { isResourceUri } from '../../sealed/resource-uri.js';
import { KmsError } from '../errors.js';
import type { JsonObject, KmsProvider, ProviderFactory, WrappedKey } from '../provider.js';
import type { ResourceGetter } from '../resource-getter.js';

/*
 * The `kbs` provider. Vault: the secret is the KBS resource named by the payload's `name` (upstream).
 * Envelope (ours; upstream has none): the data key is wrapped with AES-256 key wrap (RFC 3394) under a
 * 32-byte key-encryption key that is itself a KBS resource named by `key_id`, so the KBS releases the
 * KEK only to attested guests and the sealed secret carries the ciphertext.
 */

export const KBS_KEY_WRAP_ANNOTATION = 'key_wrap';
export const KBS_KEY_WRAP_ALGORITHM = 'A256KW';

function checkKek(kek: Uint8Array, keyId: string): void {
  if (kek.length !== 32) {
    throw new KmsError('KMS_FAILED', `key-encryption key ${keyId} must be 32 bytes, got ${kek.length}`, {
      provider: 'kbs',
    });
  }
}

function checkKeyId(keyId: string): void {
  if (!isResourceUri(keyId)) {
    throw new KmsError(
      'RESOURCE_URI_INVALID',
      `key id must be a KBS resource URI (kbs:///repo/type/tag), got ${JSON.stringify(keyId)}`,
      {
        provider: 'kbs',
      },
    );
  }
}

export class KbsProvider implements KmsProvider {
  readonly name = 'kbs';

  constructor(
    private readonly resources: ResourceGetter | undefined,
    /** Sealing side only: the KEK bytes (from `--kek-file`). */
    private readonly sealingKek?: Uint8Array,
  ) {}

  private getter(): ResourceGetter {
    if (!this.resources) {
      throw new KmsError(
        'KMS_FAILED',
        'no KBS is configured (set --aa-kbc-params or the CDH [kbc] section)',
        { provider: 'kbs' },
      );
    }
    return this.resources;
  }

  async getSecret(name: string): Promise<Uint8Array> {
    if (!isResourceUri(name))
      throw new KmsError('RESOURCE_URI_INVALID', `Kbs client error: illegal kbs resource uri: ${name}`, {
        provider: 'kbs',
      });
    return this.getter().get(name);
  }

  async wrapKey(dek: Uint8Array, keyId: string): Promise<WrappedKey> {
    checkKeyId(keyId);
    if (!this.sealingKek)
      throw new KmsError('CREDENTIAL_MISSING', 'sealing needs the key-encryption key (--kek-file)', {
        provider: 'kbs',
      });
    checkKek(this.sealingKek, keyId);
    return {
      encryptedKey: aesKeyWrap(this.sealingKek, dek),
      annotations: { [KBS_KEY_WRAP_ANNOTATION]: KBS_KEY_WRAP_ALGORITHM },
    };
  }

  async unwrapKey(encryptedKey: Uint8Array, keyId: string, annotations: JsonObject): Promise<Uint8Array> {
    checkKeyId(keyId);
    const alg = annotations[KBS_KEY_WRAP_ANNOTATION] ?? KBS_KEY_WRAP_ALGORITHM;
    if (alg !== KBS_KEY_WRAP_ALGORITHM) {
      throw new KmsError(
        'KMS_FAILED',
        `unsupported key wrap algorithm ${JSON.stringify(alg)} (only ${KBS_KEY_WRAP_ALGORITHM})`,
        {
          provider: 'kbs',
        },
      );
    }
    const kek = await this.getter().get(keyId);
    checkKek(kek, keyId);
    try {
      return aesKeyUnwrap(kek, encryptedKey);
    } catch (e) {
      if (e instanceof CryptoError) {
        throw new KmsError('KMS_FAILED', `cannot unwrap the data key with ${keyId}: ${e.message}`, {
          provider: 'kbs',
          cause: e,
        });
      }
      throw e;
    }
  }
}

export const kbsProvider: ProviderFactory = (ctx) => new KbsProvider(ctx.resources);
