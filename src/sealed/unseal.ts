import type { JsonObject, KmsProvider } from '../kms/provider.js';
import { openEnvelope } from './envelope.js';
import { SealedSecretError } from './errors.js';
import { checkVersion, type SecretPayload } from './payload.js';
import {
  parseSealedSecretUnverified,
  type VerificationKeyResolver,
  verifySealedSecret,
} from './sealed-secret.js';

/** Instantiates the provider a payload names (see src/kms/registry.ts). */
export type ProviderLookup = (name: string, settings: JsonObject) => KmsProvider;

export interface UnsealOptions {
  keys: VerificationKeyResolver;
  providers: ProviderLookup;
  /** Legacy/unsigned mode (§10). Off by default; callers must log loudly when it is on. */
  skipVerification?: boolean;
}

/** Verifies (or, in skip mode, only parses) a sealed secret and returns its payload. */
export async function openSealedSecret(
  input: string | Uint8Array,
  opts: Pick<UnsealOptions, 'keys' | 'skipVerification'>,
): Promise<SecretPayload> {
  return opts.skipVerification ? parseSealedSecretUnverified(input) : verifySealedSecret(input, opts.keys);
}

/** The plaintext a payload stands for: fetched (vault) or decrypted (envelope). */
export async function revealPayload(payload: SecretPayload, providers: ProviderLookup): Promise<Uint8Array> {
  checkVersion(payload);
  const provider = providers(payload.provider, payload.provider_settings);
  if (payload.type === 'envelope') return openEnvelope(payload, provider);
  if (!provider.getSecret)
    throw new SealedSecretError('PROVIDER_UNSUPPORTED', `provider ${payload.provider} has no vault secrets`);
  return provider.getSecret(payload.name, payload.annotations);
}

/** Full unseal: verify the signature, then fetch or decrypt the value. */
export async function unsealSecret(input: string | Uint8Array, opts: UnsealOptions): Promise<Uint8Array> {
  return revealPayload(await openSealedSecret(input, opts), opts.providers);
}
