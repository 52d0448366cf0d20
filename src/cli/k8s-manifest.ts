import { stringify } from 'yaml';

/*
 * The v1 Secret that `kubectl create secret generic NAME --from-literal=KEY=<sealed> --dry-run=client
 * -o yaml` prints: the sealed string goes into `data` (base64), keys in kubectl's order.
 */

export interface SecretManifestOptions {
  name: string;
  key: string;
  namespace?: string;
  value: string;
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/;

/** Returns a list of problems with the names, as the Kubernetes API server would report them. */
export function validateSecretNames(o: Omit<SecretManifestOptions, 'value'>): string[] {
  const errs: string[] = [];
  if (o.name.length > 253 || !DNS_SUBDOMAIN.test(o.name))
    errs.push(`Secret name ${JSON.stringify(o.name)} must be a DNS-1123 subdomain`);
  if (o.key.length > 253 || !CONFIG_KEY.test(o.key) || o.key === '.' || o.key === '..') {
    errs.push(`key ${JSON.stringify(o.key)} must consist of alphanumeric characters, '-', '_' or '.'`);
  }
  if (o.namespace !== undefined && (o.namespace.length > 63 || !DNS_LABEL.test(o.namespace))) {
    errs.push(`namespace ${JSON.stringify(o.namespace)} must be a DNS-1123 label`);
  }
  return errs;
}

/** The manifest in kubectl's JSON member order (its YAML output sorts keys; `yaml` does that below). */
export function secretManifest(o: SecretManifestOptions): Record<string, unknown> {
  const metadata: Record<string, unknown> = { name: o.name };
  if (o.namespace !== undefined) metadata.namespace = o.namespace;
  // kubectl's client-side dry run prints an unset timestamp as null; keep it so the output is identical.
  metadata.creationTimestamp = null;
  return {
    kind: 'Secret',
    apiVersion: 'v1',
    metadata,
    data: { [o.key]: Buffer.from(o.value, 'utf8').toString('base64') },
  };
}

export function renderManifest(manifest: Record<string, unknown>, format: 'yaml' | 'json'): string {
  return format === 'json'
    ? `${JSON.stringify(manifest, null, 4)}\n`
    : stringify(manifest, { lineWidth: 0, sortMapEntries: true });
}
