import { KmsError } from './errors.js';
import { kbsProvider } from './kbs/provider.js';
import type { JsonObject, KmsProvider, ProviderContext, ProviderFactory } from './provider.js';
import type { ResourceGetter } from './resource-getter.js';

/*
 * Provider names as they appear in payloads (`provider`), matched ASCII case-insensitively.
 *
 * Only `kbs` is loaded with this module: the cloud and HSM providers pull in large clients (ASN.1 and
 * PKCS#12, protobuf, PKCS#11 bindings) that most processes never use, and the CDH daemon pays for
 * every module on start and in resident memory (issue 4). Their modules load on first use:
 * `loadProviders()` loads them ahead (then `createProvider` behaves exactly as with eager imports);
 * without it, `createProvider` hands out a stand-in that loads the module, runs the factory and
 * delegates on its first call, so a factory's settings errors surface from that call instead.
 */

interface Entry {
  factory?: ProviderFactory;
  load?: () => Promise<ProviderFactory>;
}

const entries = new Map<string, Entry>([
  ['kbs', { factory: kbsProvider }],
  ['aliyun', { load: async () => (await import('./aliyun/provider.js')).aliyunProvider }],
  ['aws', { load: async () => (await import('./aws/provider.js')).awsProvider }],
  ['ehsm', { load: async () => (await import('./ehsm/provider.js')).ehsmProvider }],
  ['pkcs11', { load: async () => (await import('./pkcs11/provider.js')).pkcs11Provider }],
]);

export function registerProvider(name: string, factory: ProviderFactory): void {
  entries.set(name.toLowerCase(), { factory });
}

export function knownProviders(): string[] {
  return [...entries.keys()];
}

async function loadEntry(entry: Entry): Promise<ProviderFactory> {
  if (!entry.factory) {
    const factory = await entry.load!();
    entry.factory ??= factory;
  }
  return entry.factory;
}

/**
 * Loads the named providers' modules (default: all). Unknown names are ignored here; `createProvider`
 * reports them.
 */
export async function loadProviders(names: readonly string[] = knownProviders()): Promise<void> {
  await Promise.all(
    names.map((n) => {
      const entry = entries.get(n.toLowerCase());
      return entry ? loadEntry(entry) : undefined;
    }),
  );
}

export interface ProviderEnvironment {
  /** Credential directory for cloud/HSM providers (`secret unseal --key-path`). */
  credentialDir?: string;
  /** The KBS (or offline-fs) resource getter for the `kbs` provider. */
  resources?: ResourceGetter;
}

/** The built-in providers implement all three operations (refusing the ones they cannot do); so does this. */
function deferredProvider(name: string, entry: Entry, ctx: ProviderContext): KmsProvider {
  let real: Promise<KmsProvider> | undefined;
  const operation = async <K extends 'wrapKey' | 'unwrapKey' | 'getSecret'>(op: K) => {
    real ??= loadEntry(entry).then((factory) => factory(ctx));
    const p = await real;
    const fn = p[op];
    if (!fn) throw new KmsError('PROVIDER_UNSUPPORTED', `provider ${name} does not support ${op}`);
    return fn.bind(p) as NonNullable<KmsProvider[K]>;
  };
  return {
    name,
    wrapKey: async (dek, keyId) => (await operation('wrapKey'))(dek, keyId),
    unwrapKey: async (encryptedKey, keyId, annotations) =>
      (await operation('unwrapKey'))(encryptedKey, keyId, annotations),
    getSecret: async (secretName, annotations) => (await operation('getSecret'))(secretName, annotations),
  };
}

/** Instantiates the provider a payload names, or fails with `Unsupported provider: <name>`. */
export function createProvider(name: string, settings: JsonObject, env: ProviderEnvironment): KmsProvider {
  const key = name.toLowerCase();
  const entry = entries.get(key);
  if (!entry) throw new KmsError('PROVIDER_UNSUPPORTED', `Unsupported provider: ${name}`);
  const ctx: ProviderContext = { settings, credentialDir: env.credentialDir, resources: env.resources };
  return entry.factory ? entry.factory(ctx) : deferredProvider(key, entry, ctx);
}
