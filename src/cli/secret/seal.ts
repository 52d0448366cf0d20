import { readFile } from 'node:fs/promises';
import type { P256PrivateKey } from '../../crypto/jwk.js';
import type { JsonObject } from '../../kms/provider.js';
import { sealEnvelope } from '../../sealed/envelope.js';
import { type SecretPayload, SUPPORTED_VERSION } from '../../sealed/payload.js';
import { sealPayload } from '../../sealed/seal.js';
import type { EnvelopeSealCommand } from '../envelope/types.js';
import { renderManifest, secretManifest, validateSecretNames } from '../k8s-manifest.js';
import { UsageError } from '../run.js';

export const VAULT_WARNING = 'Warning: Secrets must be provisioned to provider separately.';

export interface ManifestOptions {
  k8sSecret?: string;
  k8sKey?: string;
  namespace?: string;
  output?: string;
}

export function vaultPayload(
  name: string,
  provider: string,
  settings: JsonObject,
  annotations: JsonObject,
): SecretPayload {
  return {
    version: SUPPORTED_VERSION,
    type: 'vault',
    name,
    provider,
    provider_settings: settings,
    annotations,
  };
}

export async function envelopePayload(
  command: EnvelopeSealCommand,
  providerOpts: Record<string, unknown>,
  keyId: string,
  filePath: string,
): Promise<SecretPayload> {
  let plaintext: Buffer;
  try {
    plaintext = await readFile(filePath);
  } catch {
    throw new UsageError(`cannot read --file-path ${filePath}`);
  }
  try {
    const { provider, payloadProvider, settings } = await command.create(providerOpts);
    return await sealEnvelope({ plaintext, keyId, provider, payloadProvider, settings });
  } finally {
    plaintext.fill(0);
  }
}

/** Validates the Kubernetes output options up front, before any key or KMS is touched. */
export function checkManifestOptions(m: ManifestOptions): void {
  if (m.k8sSecret === undefined) {
    if (m.k8sKey !== undefined || m.namespace !== undefined || m.output !== undefined) {
      throw new UsageError('--k8s-key, --namespace and --output need --k8s-secret NAME');
    }
    return;
  }
  if (m.output !== undefined && m.output !== 'yaml' && m.output !== 'json')
    throw new UsageError('--output must be yaml or json');
  const problems = validateSecretNames({
    name: m.k8sSecret,
    key: m.k8sKey ?? 'secret',
    namespace: m.namespace,
  });
  if (problems.length) throw new UsageError(problems.join('; '));
}

/** Signs and renders: the sealed string as the last stdout line, or a Secret manifest. */
export function renderSealed(
  payload: SecretPayload,
  key: P256PrivateKey,
  kid: string,
  m: ManifestOptions,
): string {
  const sealed = sealPayload(payload, key, kid);
  if (m.k8sSecret === undefined) return `${sealed}\n`;
  const manifest = secretManifest({
    name: m.k8sSecret,
    key: m.k8sKey ?? 'secret',
    namespace: m.namespace,
    value: sealed,
  });
  return renderManifest(manifest, m.output === 'json' ? 'json' : 'yaml');
}
