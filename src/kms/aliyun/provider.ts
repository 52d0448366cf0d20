import { isAbsolute, join } from 'node:path';
import { decodeStd, encodeStd } from '../../crypto/base64.js';
import { credentialDir } from '../credentials.js';
import { KmsError } from '../errors.js';
import type { JsonObject, KmsProvider, ProviderFactory, WrappedKey } from '../provider.js';
import {
  ALIYUN_PROVIDER,
  aliyunFailed,
  type ClientKey,
  loadClientKey,
  parseEcsRamRole,
  parseStsCredential,
  readCredentialFile,
  type StsCredential,
} from './credential.js';
import { DkmsClient } from './dkms-client.js';
import { ecsRamRoleCredential } from './imds.js';
import { getSecretValue } from './openapi.js';

/*
 * The `aliyun` provider (sealed-secret.md §6.2).
 * - client_key: envelope (KMS instance Encrypt/Decrypt, AES_GCM, the KMS's IV in `annotations.iv`) and
 *   vault (KMS instance GetSecretValue), authenticated with the application access point client key.
 * - sts_token, ecs_ram_role: vault only, through the public KMS OpenAPI with STS credentials.
 */

export const ALIYUN_KEY_PATH_ENV = 'ALIYUN_IN_GUEST_KEY_PATH';

/** Ids become file names (`clientKey_<id>.json`, `PrivateKmsCA_<id>.pem`): no path tricks. */
function checkId(v: unknown, what: string): string {
  if (typeof v !== 'string' || !/^[A-Za-z0-9._*-]{1,128}$/.test(v) || v === '.' || v === '..') {
    throw aliyunFailed(
      `provider_settings.${what} must be an id made of letters, digits, '.', '_', '*' or '-'`,
    );
  }
  return v;
}

function annotationString(annotations: JsonObject, key: string): string {
  const v = annotations[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw aliyunFailed(`annotations.${key} must be a string`);
  return v;
}

function unsupported(what: string, clientType: string): KmsError {
  return new KmsError(
    'PROVIDER_UNSUPPORTED',
    `${what} is not supported with client_type ${clientType} (only client_key)`,
    {
      provider: ALIYUN_PROVIDER,
    },
  );
}

/** client_key: everything through the KMS instance API. */
export class AliyunClientKeyProvider implements KmsProvider {
  readonly name = ALIYUN_PROVIDER;
  private client: Promise<DkmsClient> | undefined;

  constructor(
    private readonly kmsInstanceId: string,
    private readonly load: () => Promise<{ key: ClientKey; caPem: string }>,
  ) {}

  private dkms(): Promise<DkmsClient> {
    this.client ??= this.load().then(({ key, caPem }) => new DkmsClient(key, this.kmsInstanceId, caPem));
    return this.client;
  }

  async wrapKey(dek: Uint8Array, keyId: string): Promise<WrappedKey> {
    const res = await (await this.dkms()).call<{ CiphertextBlob: Buffer; Iv: Buffer }>('Encrypt', {
      KeyId: keyId,
      Plaintext: Buffer.from(dek),
      Algorithm: 'AES_GCM',
      Aad: Buffer.alloc(0),
      Iv: Buffer.alloc(0),
      PaddingMode: '',
    });
    if (res.CiphertextBlob.length === 0)
      throw aliyunFailed('KMS instance Encrypt returned no CiphertextBlob');
    return { encryptedKey: new Uint8Array(res.CiphertextBlob), annotations: { iv: encodeStd(res.Iv) } };
  }

  async unwrapKey(encryptedKey: Uint8Array, keyId: string, annotations: JsonObject): Promise<Uint8Array> {
    const ivText = annotations.iv;
    if (typeof ivText !== 'string') throw aliyunFailed('envelopes need annotations.iv (the KMS IV, base64)');
    let iv: Buffer;
    try {
      iv = decodeStd(ivText, 'annotations.iv');
    } catch (e) {
      throw aliyunFailed('annotations.iv is not valid base64', e);
    }
    const res = await (await this.dkms()).call<{ Plaintext: Buffer }>('Decrypt', {
      CiphertextBlob: Buffer.from(encryptedKey),
      KeyId: keyId,
      Algorithm: 'AES_GCM',
      Aad: Buffer.alloc(0),
      Iv: iv,
      PaddingMode: '',
    });
    return new Uint8Array(res.Plaintext);
  }

  async getSecret(name: string, annotations: JsonObject): Promise<Uint8Array> {
    const res = await (await this.dkms()).call<{ SecretData: string }>('GetSecretValue', {
      SecretName: name,
      VersionStage: annotationString(annotations, 'version_stage'),
      VersionId: annotationString(annotations, 'version_id'),
      FetchExtendedConfig: false,
    });
    return new Uint8Array(Buffer.from(res.SecretData, 'utf8'));
  }
}

/** sts_token / ecs_ram_role: vault secrets through the OpenAPI with STS credentials. */
export class AliyunStsProvider implements KmsProvider {
  readonly name = ALIYUN_PROVIDER;

  constructor(
    private readonly clientType: 'sts_token' | 'ecs_ram_role',
    private readonly credentials: () => Promise<{ cred: StsCredential; regionId: string }>,
  ) {}

  async wrapKey(): Promise<WrappedKey> {
    throw unsupported('envelope encryption', this.clientType);
  }

  async unwrapKey(): Promise<Uint8Array> {
    throw unsupported('envelope decryption', this.clientType);
  }

  async getSecret(name: string, annotations: JsonObject): Promise<Uint8Array> {
    const versionStage = annotationString(annotations, 'version_stage');
    const versionId = annotationString(annotations, 'version_id');
    const { cred, regionId } = await this.credentials();
    return getSecretValue(cred, regionId, name, versionStage, versionId);
  }
}

/** Loads a client key and the instance CA from explicit paths (the `ali` seal command) or a credential dir. */
export async function loadClientKeyFiles(paths: {
  clientKey: string;
  password: string;
  ca: string;
}): Promise<{ key: ClientKey; caPem: string }> {
  // Read in a fixed order so a missing file is always reported the same way (the client key first).
  const keyJson = await readCredentialFile(paths.clientKey, 'client key file');
  const password = await readCredentialFile(paths.password, 'client key password file');
  const caPem = await readCredentialFile(paths.ca, 'KMS instance CA file');
  return { key: loadClientKey(keyJson, password, `client key file ${paths.clientKey}`), caPem };
}

/**
 * Unseal side. `provider_settings.client_type`:
 * - `client_key`: `{client_key_id, kms_instance_id}`; `clientKey_<client_key_id>.json`,
 *   `password_<client_key_id>.json` and `PrivateKmsCA_<kms_instance_id>.pem` in the credential dir;
 * - `sts_token`: `{token_path, region_id}`; a relative token_path is taken inside the credential dir;
 * - `ecs_ram_role`: `ecsRamRole.json` in the credential dir.
 * Credential dir: `--key-path`, else `$ALIYUN_IN_GUEST_KEY_PATH`, else `<cred-root>/aliyun`.
 */
export const aliyunProvider: ProviderFactory = (ctx) => {
  const s = ctx.settings;
  const dir = credentialDir(ctx.credentialDir, ALIYUN_KEY_PATH_ENV, ALIYUN_PROVIDER);
  switch (s.client_type) {
    case 'client_key': {
      const clientKeyId = checkId(s.client_key_id, 'client_key_id');
      const kmsInstanceId = checkId(s.kms_instance_id, 'kms_instance_id');
      return new AliyunClientKeyProvider(kmsInstanceId, () =>
        loadClientKeyFiles({
          clientKey: join(dir, `clientKey_${clientKeyId}.json`),
          password: join(dir, `password_${clientKeyId}.json`),
          ca: join(dir, `PrivateKmsCA_${kmsInstanceId}.pem`),
        }),
      );
    }
    case 'sts_token': {
      const tokenPath = s.token_path;
      const regionId = s.region_id;
      if (typeof tokenPath !== 'string' || !tokenPath)
        throw aliyunFailed('provider_settings.token_path must be a string');
      if (typeof regionId !== 'string' || !regionId)
        throw aliyunFailed('provider_settings.region_id must be a string');
      const path = isAbsolute(tokenPath) ? tokenPath : join(dir, tokenPath);
      return new AliyunStsProvider('sts_token', async () => ({
        cred: parseStsCredential(await readCredentialFile(path, 'STS token file'), `STS token file ${path}`),
        regionId,
      }));
    }
    case 'ecs_ram_role': {
      const path = join(dir, 'ecsRamRole.json');
      return new AliyunStsProvider('ecs_ram_role', async () => {
        const role = parseEcsRamRole(
          await readCredentialFile(path, 'ECS RAM role file'),
          `ECS RAM role file ${path}`,
        );
        return { cred: await ecsRamRoleCredential(role.roleName), regionId: role.regionId };
      });
    }
    case undefined:
      throw aliyunFailed('provider_settings.client_type is missing (client_key, sts_token or ecs_ram_role)');
    default:
      throw aliyunFailed(
        `provider_settings.client_type ${JSON.stringify(s.client_type)} is not client_key, sts_token or ecs_ram_role`,
      );
  }
};
