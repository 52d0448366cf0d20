import { aes256CtrDecrypt, aes256GcmDecrypt, aes256GcmEncrypt, freshDataKey } from '../crypto/aes-gcm.js';
import { decodeStd, encodeStd } from '../crypto/base64.js';
import { CryptoError } from '../crypto/errors.js';
import type { JsonObject, KmsProvider } from '../kms/provider.js';
import { SealedSecretError } from './errors.js';
import { type EnvelopePayload, SUPPORTED_VERSION } from './payload.js';

/*
 * Envelope secrets (sealed-secret.md §5.5): the value is AES-256-GCM-encrypted under a fresh data key
 * (DEK), and the DEK is wrapped by a KMS provider. The DEK never leaves this function in the clear.
 */

export interface EnvelopeSealRequest {
  plaintext: Uint8Array;
  keyId: string;
  provider: KmsProvider;
  /** The payload's `provider` name (e.g. `aliyun` for the `ali` subcommand). */
  payloadProvider: string;
  settings: JsonObject;
}

export async function sealEnvelope(req: EnvelopeSealRequest): Promise<EnvelopePayload> {
  if (!req.provider.wrapKey) {
    throw new SealedSecretError(
      'PROVIDER_UNSUPPORTED',
      `provider ${req.payloadProvider} cannot seal envelope secrets`,
    );
  }
  const { key, iv } = freshDataKey();
  try {
    const encryptedData = aes256GcmEncrypt(key, iv, req.plaintext);
    const wrapped = await req.provider.wrapKey(key, req.keyId);
    return {
      version: SUPPORTED_VERSION,
      type: 'envelope',
      key_id: req.keyId,
      encrypted_key: encodeStd(wrapped.encryptedKey),
      encrypted_data: encodeStd(encryptedData),
      wrap_type: 'A256GCM',
      iv: encodeStd(iv),
      provider: req.payloadProvider,
      provider_settings: req.settings,
      annotations: wrapped.annotations,
    };
  } finally {
    key.fill(0);
  }
}

function field(value: string, name: string): Buffer {
  try {
    return decodeStd(value, name);
  } catch (e) {
    throw new SealedSecretError('BAD_FORMAT', `base64 decoding failed when decode \`${name}\``, { cause: e });
  }
}

export async function openEnvelope(p: EnvelopePayload, provider: KmsProvider): Promise<Uint8Array> {
  const encryptedKey = field(p.encrypted_key, 'encrypted_key');
  if (!provider.unwrapKey)
    throw new SealedSecretError('PROVIDER_UNSUPPORTED', `Unsupported provider: ${p.provider}`);
  const dek = Buffer.from(await provider.unwrapKey(encryptedKey, p.key_id, p.annotations));
  try {
    const iv = field(p.iv, 'iv');
    const data = field(p.encrypted_data, 'encrypted_data');
    return p.wrap_type === 'A256GCM' ? aes256GcmDecrypt(dek, iv, data) : aes256CtrDecrypt(dek, iv, data);
  } catch (e) {
    if (e instanceof CryptoError)
      throw new SealedSecretError('DECRYPT_FAILED', `envelope: ${e.message}`, { cause: e });
    throw e;
  } finally {
    dek.fill(0);
  }
}
