import type { JsonObject } from '../kms/provider.js';
import { SealedSecretError } from './errors.js';

/*
 * The sealed-secret payload document (sealed-secret.md §5). Parsing follows upstream serde:
 * unknown fields ignored, field order free, wrong JSON types and missing required fields rejected,
 * `provider_settings` and `annotations` required. The version is checked at unseal, not here.
 */

export const SUPPORTED_VERSION = '0.1.0';

export interface VaultPayload {
  version: string;
  type: 'vault';
  /** kbs: a resource URI; aliyun: the secret name; aws: a Secrets Manager id or ARN. */
  name: string;
  provider: string;
  provider_settings: JsonObject;
  annotations: JsonObject;
}

export type WrapType = 'A256GCM' | 'A256CTR';

export interface EnvelopePayload {
  version: string;
  type: 'envelope';
  key_id: string;
  /** STD base64 of the provider's wrapped data key. */
  encrypted_key: string;
  /** STD base64 of ciphertext ‖ tag. */
  encrypted_data: string;
  wrap_type: WrapType;
  /** STD base64 of the data IV. */
  iv: string;
  provider: string;
  provider_settings: JsonObject;
  annotations: JsonObject;
}

export type SecretPayload = VaultPayload | EnvelopePayload;

const bad = (why: string) =>
  new SealedSecretError(
    'BAD_FORMAT',
    `malformed input sealed secret format (json deserialization failed): ${why}`,
  );

function str(o: Record<string, unknown>, k: string): string {
  const v = o[k];
  if (v === undefined) throw bad(`missing field \`${k}\``);
  if (typeof v !== 'string') throw bad(`field \`${k}\` must be a string`);
  return v;
}

function obj(o: Record<string, unknown>, k: string): JsonObject {
  const v = o[k];
  if (v === undefined) throw bad(`missing field \`${k}\``);
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad(`field \`${k}\` must be an object`);
  return v as JsonObject;
}

/** Parses payload JSON (bytes or text) into a typed document. */
export function parsePayload(json: Uint8Array | string): SecretPayload {
  let text: string;
  if (typeof json === 'string') text = json;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(json);
    } catch {
      throw bad('payload is not UTF-8');
    }
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad('payload is not JSON');
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw bad('payload must be a JSON object');
  const o = doc as Record<string, unknown>;
  const type = str(o, 'type');
  if (type === 'vault') {
    return {
      version: str(o, 'version'),
      type,
      name: str(o, 'name'),
      provider: str(o, 'provider'),
      provider_settings: obj(o, 'provider_settings'),
      annotations: obj(o, 'annotations'),
    };
  }
  if (type === 'envelope') {
    const wrap = str(o, 'wrap_type');
    if (wrap !== 'A256GCM' && wrap !== 'A256CTR') throw bad(`unknown wrap_type \`${wrap}\``);
    return {
      version: str(o, 'version'),
      type,
      key_id: str(o, 'key_id'),
      encrypted_key: str(o, 'encrypted_key'),
      encrypted_data: str(o, 'encrypted_data'),
      wrap_type: wrap,
      iv: str(o, 'iv'),
      provider: str(o, 'provider'),
      provider_settings: obj(o, 'provider_settings'),
      annotations: obj(o, 'annotations'),
    };
  }
  throw bad(`unknown variant \`${type}\`, expected \`vault\` or \`envelope\``);
}

/**
 * Compact JSON in upstream member order (§5.3), byte-identical to the Rust sealer for the same
 * document. Nested maps keep their insertion order (JavaScript moves integer-like keys first).
 */
export function serializePayload(p: SecretPayload): string {
  const ordered =
    p.type === 'vault'
      ? {
          version: p.version,
          type: p.type,
          name: p.name,
          provider: p.provider,
          provider_settings: p.provider_settings,
          annotations: p.annotations,
        }
      : {
          version: p.version,
          type: p.type,
          key_id: p.key_id,
          encrypted_key: p.encrypted_key,
          encrypted_data: p.encrypted_data,
          wrap_type: p.wrap_type,
          iv: p.iv,
          provider: p.provider,
          provider_settings: p.provider_settings,
          annotations: p.annotations,
        };
  return JSON.stringify(ordered);
}

export function checkVersion(p: SecretPayload): void {
  if (p.version !== SUPPORTED_VERSION) {
    throw new SealedSecretError(
      'VERSION_UNSUPPORTED',
      `version not supported, only ${SUPPORTED_VERSION} supported (got ${JSON.stringify(p.version)})`,
    );
  }
}
