import type { KeyObject } from 'node:crypto';
import { decodeStd } from '../../crypto/base64.js';
import { readCredentialFile as readSharedCredentialFile } from '../credential-file.js';
import { KmsError } from '../errors.js';
import { Pkcs12Error, privateKeyFromPkcs12 } from './pkcs12.js';

export const ALIYUN_PROVIDER = 'aliyun';

export function aliyunFailed(message: string, cause?: unknown): KmsError {
  return new KmsError('KMS_FAILED', message, { provider: ALIYUN_PROVIDER, cause });
}

/** Reads an aliyun credential file (see ../credential-file.ts). */
export function readCredentialFile(path: string, what: string): Promise<string> {
  return readSharedCredentialFile(path, what, ALIYUN_PROVIDER);
}

/** Parses JSON without ever putting the file's text (a secret) into an error message. */
export function parseJsonObject(text: string, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw aliyunFailed(`${what} is not valid JSON`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw aliyunFailed(`${what} is not a JSON object`);
  return doc as Record<string, unknown>;
}

function member(o: Record<string, unknown>, key: string, what: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length === 0) throw aliyunFailed(`${what} needs a non-empty string ${key}`);
  return v;
}

/** A KMS instance application access point client key: its id and RSA private key. */
export interface ClientKey {
  keyId: string;
  privateKey: KeyObject;
}

/**
 * `clientKey_<id>.json` = `{"KeyId", "PrivateKeyData": STD base64 of PKCS#12}`, opened with the password
 * file's raw text, trailing whitespace trimmed (sealed-secret.md §6.2: not JSON despite `.json`).
 */
export function loadClientKey(clientKeyJson: string, passwordText: string, what: string): ClientKey {
  const o = parseJsonObject(clientKeyJson, what);
  const keyId = member(o, 'KeyId', what);
  let pfx: Buffer;
  try {
    pfx = decodeStd(member(o, 'PrivateKeyData', what).replace(/\s+/g, ''), 'PrivateKeyData');
  } catch (e) {
    if (e instanceof KmsError) throw e;
    throw aliyunFailed(`${what}: PrivateKeyData is not base64`);
  }
  const password = passwordText.replace(/\s+$/, '');
  let privateKey: KeyObject;
  try {
    privateKey = privateKeyFromPkcs12(pfx, password);
  } catch (e) {
    if (e instanceof Pkcs12Error) throw aliyunFailed(`${what}: cannot open the client key: ${e.message}`);
    throw e;
  }
  if (privateKey.asymmetricKeyType !== 'rsa') throw aliyunFailed(`${what}: the client key is not an RSA key`);
  return { keyId, privateKey };
}

/** STS credentials: the sts_token file, or what the ECS metadata service returns for a RAM role. */
export interface StsCredential {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken: string;
}

/**
 * The `token_path` file: JSON `{"AccessKeyId","AccessKeySecret","SecurityToken"}` (spec §6.2). Older
 * upstream releases wrote `ak:sk:sts`; that form is accepted too.
 */
export function parseStsCredential(text: string, what: string): StsCredential {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{')) {
    const parts = trimmed.split(':');
    if (parts.length === 3 && parts.every((p) => p.length > 0)) {
      return { accessKeyId: parts[0], accessKeySecret: parts[1], securityToken: parts[2] };
    }
  }
  const o = parseJsonObject(trimmed, what);
  return {
    accessKeyId: member(o, 'AccessKeyId', what),
    accessKeySecret: member(o, 'AccessKeySecret', what),
    securityToken: member(o, 'SecurityToken', what),
  };
}

/** `ecsRamRole.json` = `{"ecs_ram_role_name", "region_id"}`. */
export function parseEcsRamRole(text: string, what: string): { roleName: string; regionId: string } {
  const o = parseJsonObject(text, what);
  return { roleName: member(o, 'ecs_ram_role_name', what), regionId: member(o, 'region_id', what) };
}
