import { aliyunProvider } from './aliyun/provider.js';
import { awsProvider } from './aws/provider.js';
import { ehsmProvider } from './ehsm/provider.js';
import { KmsError } from './errors.js';
import { kbsProvider } from './kbs/provider.js';
import { pkcs11Provider } from './pkcs11/provider.js';
import type { JsonObject, KmsProvider, ProviderFactory } from './provider.js';
import type { ResourceGetter } from './resource-getter.js';

/** Provider names as they appear in payloads (`provider`), matched ASCII case-insensitively. */
const factories = new Map<string, ProviderFactory>([
  ['kbs', kbsProvider],
  ['aliyun', aliyunProvider],
  ['aws', awsProvider],
  ['ehsm', ehsmProvider],
  ['pkcs11', pkcs11Provider],
]);

export function registerProvider(name: string, factory: ProviderFactory): void {
  factories.set(name.toLowerCase(), factory);
}

export function knownProviders(): string[] {
  return [...factories.keys()];
}

export interface ProviderEnvironment {
  /** Credential directory for cloud/HSM providers (`secret unseal --key-path`). */
  credentialDir?: string;
  /** The KBS (or offline-fs) resource getter for the `kbs` provider. */
  resources?: ResourceGetter;
}

/** Instantiates the provider a payload names, or fails with `Unsupported provider: <name>`. */
export function createProvider(name: string, settings: JsonObject, env: ProviderEnvironment): KmsProvider {
  const factory = factories.get(name.toLowerCase());
  if (!factory) throw new KmsError('PROVIDER_UNSUPPORTED', `Unsupported provider: ${name}`);
  return factory({ settings, credentialDir: env.credentialDir, resources: env.resources });
}
