import type { ResourceGetter } from './resource-getter.js';

/** JSON object as it appears in `provider_settings` / `annotations`. */
export type JsonObject = { [key: string]: unknown };

/** What sealing an envelope needs back from the KMS. */
export interface WrappedKey {
  /** Raw wrapped DEK; the caller stores it as STD base64 in `encrypted_key`. */
  encryptedKey: Uint8Array;
  /** Written to the payload's `annotations` (e.g. aliyun's `iv`, kbs provider's wrap algorithm). */
  annotations: JsonObject;
}

/**
 * One KMS provider (kbs, aliyun, aws, ehsm, pkcs11). Upstream names: `encrypt`/`decrypt` for envelopes
 * and `get_secret` for vault. A provider that cannot do one of them throws KmsError
 * `PROVIDER_UNSUPPORTED`; every other failure is `KMS_FAILED` naming the provider and the cause.
 */
export interface KmsProvider {
  readonly name: string;
  /** Wraps a 32-byte DEK under `keyId` (sealing side). */
  wrapKey?(dek: Uint8Array, keyId: string): Promise<WrappedKey>;
  /** Unwraps a DEK (unsealing side). */
  unwrapKey?(encryptedKey: Uint8Array, keyId: string, annotations: JsonObject): Promise<Uint8Array>;
  /** Fetches a vault secret by `name`. */
  getSecret?(name: string, annotations: JsonObject): Promise<Uint8Array>;
}

/** Context every provider factory receives at unseal time. */
export interface ProviderContext {
  /** The payload's `provider_settings`. */
  settings: JsonObject;
  /** Directory holding provider credentials (upstream `<cred-root>/<provider>` or `--key-path`). */
  credentialDir?: string;
  /** For the `kbs` provider and `kid` URIs. */
  resources?: ResourceGetter;
}

export type ProviderFactory = (ctx: ProviderContext) => KmsProvider;
