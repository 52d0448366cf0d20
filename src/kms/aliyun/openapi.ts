import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { aliyunFailed, type StsCredential } from './credential.js';
import { httpsCall, TransportError } from './https.js';

/*
 * The public KMS OpenAPI (RPC style, version 2016-01-20) at https://kms.<region>.aliyuncs.com, for
 * vault secrets read with STS credentials (`sts_token`, `ecs_ram_role`). Signature version 1.0:
 *
 *   StringToSign = "POST&%2F&" + percent(canonical query)
 *   canonical query = every parameter but Signature, sorted by name, "percent(k)=percent(v)" joined by "&"
 *   Signature = base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))
 *
 * with percent() = RFC 3986 encoding that leaves only A-Z a-z 0-9 - _ . ~ unescaped.
 */

export const OPENAPI_VERSION = '2016-01-20';
/** Connect to this `host:port` instead of kms.<region>.aliyuncs.com (tests, private routing). */
export const OPENAPI_ADDRESS_ENV = 'COCOSEAL_ALIYUN_OPENAPI_ADDRESS';
/** Trust only this PEM bundle for the OpenAPI endpoint (tests, TLS-inspecting proxies). */
export const OPENAPI_CA_ENV = 'COCOSEAL_ALIYUN_OPENAPI_CA_FILE';

export function percentEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function canonicalQuery(params: Record<string, string>): string {
  return Object.keys(params)
    .filter((k) => k !== 'Signature')
    .sort()
    .map((k) => `${percentEncode(k)}=${percentEncode(params[k])}`)
    .join('&');
}

export function rpcSignature(
  method: string,
  params: Record<string, string>,
  accessKeySecret: string,
): string {
  const toSign = `${method}&${percentEncode('/')}&${percentEncode(canonicalQuery(params))}`;
  return createHmac('sha1', `${accessKeySecret}&`).update(toSign, 'utf8').digest('base64');
}

function isoTimestamp(d = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export async function getSecretValue(
  cred: StsCredential,
  regionId: string,
  secretName: string,
  versionStage: string,
  versionId: string,
): Promise<Uint8Array> {
  if (!/^[a-z0-9-]{1,64}$/.test(regionId))
    throw aliyunFailed(`region id ${JSON.stringify(regionId)} is not valid`);
  const params: Record<string, string> = {
    Action: 'GetSecretValue',
    Version: OPENAPI_VERSION,
    Format: 'JSON',
    RegionId: regionId,
    Timestamp: isoTimestamp(),
    SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0',
    SignatureNonce: randomUUID(),
    AccessKeyId: cred.accessKeyId,
    SecurityToken: cred.securityToken,
    SecretName: secretName,
  };
  if (versionStage) params.VersionStage = versionStage;
  if (versionId) params.VersionId = versionId;
  const query = `${canonicalQuery(params)}&Signature=${percentEncode(rpcSignature('POST', params, cred.accessKeySecret))}`;
  const host = `kms.${regionId}.aliyuncs.com`;
  const caFile = process.env[OPENAPI_CA_ENV];
  let ca: string | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (e) {
      throw aliyunFailed(`cannot read ${OPENAPI_CA_ENV} ${caFile}`, e);
    }
  }
  let res: Awaited<ReturnType<typeof httpsCall>>;
  try {
    res = await httpsCall({
      method: 'POST',
      host,
      path: `/?${query}`,
      headers: {
        accept: 'application/json',
        'x-acs-action': 'GetSecretValue',
        'x-acs-version': OPENAPI_VERSION,
        'user-agent': 'cocoseal',
      },
      ...(ca ? { ca } : {}),
      connect: process.env[OPENAPI_ADDRESS_ENV] || undefined,
    });
  } catch (e) {
    if (e instanceof TransportError) throw aliyunFailed(`KMS OpenAPI ${host}: ${e.message}`, e);
    throw e;
  }
  let doc: Record<string, unknown> = {};
  try {
    doc = JSON.parse(res.body.toString('utf8')) as Record<string, unknown>;
  } catch {
    // Reported below with the status.
  }
  if (res.status !== 200) {
    const detail =
      typeof doc.Code === 'string' ? `${doc.Code}: ${String(doc.Message ?? '')}` : 'no error document';
    throw aliyunFailed(`KMS OpenAPI GetSecretValue of ${secretName} failed: ${detail} (HTTP ${res.status})`);
  }
  if (typeof doc.SecretData !== 'string')
    throw aliyunFailed(`KMS OpenAPI GetSecretValue: response has no SecretData`);
  return new Uint8Array(Buffer.from(doc.SecretData, 'utf8'));
}
