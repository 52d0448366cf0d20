import { join } from 'node:path';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { credentialDir } from '../credentials.js';
import type { JsonObject, KmsProvider, ProviderFactory, WrappedKey } from '../provider.js';
import { AWS_PROVIDER, type AwsCredential, awsFailed, readAwsCredential } from './credential.js';
import { describeAwsError, requestHandlerOptions, resolveEndpoint } from './transport.js';

// The SDK warns on Node < 22 that *future* SDK releases will need it; our lock file pins this one, so
// the multi-line warning would only clutter CLI errors. The SDK's own switch, set only when unset.
function quietSdk(): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}
const kmsSdk = () => {
  quietSdk();
  return import('@aws-sdk/client-kms');
};
const smSdk = () => {
  quietSdk();
  return import('@aws-sdk/client-secrets-manager');
};

/*
 * The `aws` provider (sealed-secret.md §6.3), through the official AWS SDK for JavaScript v3.
 * Envelope: KMS Encrypt / Decrypt of the DEK (optional `annotations.encryption_context` on decrypt).
 * Vault: Secrets Manager GetSecretValue (`annotations.version_id` / `version_stage`; empty = not sent);
 * SecretString as UTF-8 bytes, else SecretBinary.
 */

export const AWS_KEY_PATH_ENV = 'AWS_IN_GUEST_KEY_PATH';

export interface AwsSettings {
  region: string;
  /** Ours, optional: a non-default endpoint (see transport.ts). */
  endpoint?: string;
}

export function parseAwsSettings(settings: JsonObject): AwsSettings {
  const region = settings.region;
  if (typeof region !== 'string' || !/^[a-z0-9-]{1,64}$/.test(region)) {
    throw awsFailed('provider_settings.region must be an AWS region name such as "us-east-1"');
  }
  if (settings.endpoint !== undefined && typeof settings.endpoint !== 'string') {
    throw awsFailed('provider_settings.endpoint must be a string');
  }
  return settings.endpoint ? { region, endpoint: settings.endpoint } : { region };
}

function optionalString(annotations: JsonObject, key: string): string | undefined {
  const v = annotations[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw awsFailed(`annotations.${key} must be a string`);
  return v === '' ? undefined : v;
}

function encryptionContext(annotations: JsonObject): Record<string, string> | undefined {
  const v = annotations.encryption_context;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw awsFailed('annotations.encryption_context must be an object of strings');
  }
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string') throw awsFailed(`annotations.encryption_context.${k} must be a string`);
    out[k] = x;
  }
  return out;
}

export class AwsProvider implements KmsProvider {
  readonly name = AWS_PROVIDER;
  private kms: KMSClient | undefined;
  private sm: SecretsManagerClient | undefined;
  private credential: Promise<AwsCredential> | undefined;

  constructor(
    private readonly settings: AwsSettings,
    private readonly loadCredential: () => Promise<AwsCredential>,
  ) {}

  private credentials(): Promise<AwsCredential> {
    this.credential ??= this.loadCredential();
    return this.credential;
  }

  // The SDK is loaded on first use: it costs ~80 ms of start-up that the CLI and the CDH need not pay.
  private async kmsClient(): Promise<{ client: KMSClient; endpoint: string | undefined }> {
    const { KMSClient } = await kmsSdk();
    const endpoint = resolveEndpoint('kms', this.settings.endpoint);
    if (!this.kms) {
      const credentials = await this.credentials();
      this.kms = new KMSClient({
        region: this.settings.region,
        credentials,
        ...(endpoint ? { endpoint } : {}),
        requestHandler: requestHandlerOptions(),
      });
    }
    return { client: this.kms, endpoint };
  }

  private async smClient(): Promise<{ client: SecretsManagerClient; endpoint: string | undefined }> {
    const { SecretsManagerClient } = await smSdk();
    const endpoint = resolveEndpoint('secretsmanager', this.settings.endpoint);
    if (!this.sm) {
      const credentials = await this.credentials();
      this.sm = new SecretsManagerClient({
        region: this.settings.region,
        credentials,
        ...(endpoint ? { endpoint } : {}),
        requestHandler: requestHandlerOptions(),
      });
    }
    return { client: this.sm, endpoint };
  }

  async wrapKey(dek: Uint8Array, keyId: string): Promise<WrappedKey> {
    const { client, endpoint } = await this.kmsClient();
    const { EncryptCommand } = await kmsSdk();
    let blob: Uint8Array | undefined;
    try {
      blob = (await client.send(new EncryptCommand({ KeyId: keyId, Plaintext: dek }))).CiphertextBlob;
    } catch (e) {
      throw awsFailed(`KMS Encrypt with key ${keyId} failed: ${describeAwsError(e, endpoint)}`, e);
    }
    if (!blob || blob.length === 0) throw awsFailed('KMS Encrypt returned no CiphertextBlob');
    return { encryptedKey: blob, annotations: {} };
  }

  async unwrapKey(encryptedKey: Uint8Array, keyId: string, annotations: JsonObject): Promise<Uint8Array> {
    const context = encryptionContext(annotations);
    const { client, endpoint } = await this.kmsClient();
    const { DecryptCommand } = await kmsSdk();
    let plaintext: Uint8Array | undefined;
    try {
      plaintext = (
        await client.send(
          new DecryptCommand({
            CiphertextBlob: encryptedKey,
            KeyId: keyId,
            ...(context ? { EncryptionContext: context } : {}),
          }),
        )
      ).Plaintext;
    } catch (e) {
      throw awsFailed(`KMS Decrypt with key ${keyId} failed: ${describeAwsError(e, endpoint)}`, e);
    }
    if (!plaintext) throw awsFailed('KMS Decrypt returned no Plaintext');
    return plaintext;
  }

  async getSecret(name: string, annotations: JsonObject): Promise<Uint8Array> {
    const versionId = optionalString(annotations, 'version_id');
    const versionStage = optionalString(annotations, 'version_stage');
    const { client, endpoint } = await this.smClient();
    const { GetSecretValueCommand } = await smSdk();
    try {
      const out = await client.send(
        new GetSecretValueCommand({
          SecretId: name,
          ...(versionId ? { VersionId: versionId } : {}),
          ...(versionStage ? { VersionStage: versionStage } : {}),
        }),
      );
      if (typeof out.SecretString === 'string') return new Uint8Array(Buffer.from(out.SecretString, 'utf8'));
      if (out.SecretBinary) return new Uint8Array(out.SecretBinary);
    } catch (e) {
      throw awsFailed(
        `Secrets Manager GetSecretValue of ${name} failed: ${describeAwsError(e, endpoint)}`,
        e,
      );
    }
    throw awsFailed(`secret ${name} has neither SecretString nor SecretBinary`);
  }

  /** Closes pooled connections (the clients keep sockets alive between calls). */
  destroy(): void {
    this.kms?.destroy();
    this.sm?.destroy();
  }
}

/**
 * Unseal side: `provider_settings` = `{"region"}` (+ optional `endpoint`); the credential file is
 * `<credential dir>/credential.json` (`--key-path`, else `$AWS_IN_GUEST_KEY_PATH`, else `<cred-root>/aws`).
 */
export const awsProvider: ProviderFactory = (ctx) => {
  const settings = parseAwsSettings(ctx.settings);
  const dir = credentialDir(ctx.credentialDir, AWS_KEY_PATH_ENV, AWS_PROVIDER);
  return new AwsProvider(settings, () => readAwsCredential(join(dir, 'credential.json')));
};
