import { aliyunFailed, parseJsonObject, type StsCredential } from './credential.js';
import { httpsCall, TransportError } from './https.js';

/*
 * STS credentials of an ECS instance RAM role from the instance metadata service (plain HTTP on the
 * link-local 100.100.100.200, as on every ECS instance). The hardened mode token (PUT /latest/api/token)
 * is asked for first and sent when the service gives one; instances in normal mode answer without it.
 */

export const IMDS_ENDPOINT_ENV = 'COCOSEAL_ALIYUN_IMDS_ENDPOINT';
const DEFAULT_IMDS = 'http://100.100.100.200';

export async function ecsRamRoleCredential(roleName: string): Promise<StsCredential> {
  if (!/^[A-Za-z0-9._-]+$/.test(roleName) || roleName === '.' || roleName === '..') {
    throw aliyunFailed(`RAM role name ${JSON.stringify(roleName)} is not valid`);
  }
  const base = new URL(process.env[IMDS_ENDPOINT_ENV] || DEFAULT_IMDS);
  const port = base.port ? Number(base.port) : 80;
  const call = (method: 'GET' | 'PUT', path: string, headers: Record<string, string>) =>
    httpsCall({
      method,
      host: base.hostname,
      port,
      path,
      headers,
      tls: false,
      timeoutMs: 5_000,
      maxResponseBytes: 64 << 10,
    });
  try {
    let token: string | undefined;
    const t = await call('PUT', '/latest/api/token', { 'x-aliyun-ecs-metadata-token-ttl-seconds': '300' });
    if (t.status === 200 && t.body.length > 0) token = t.body.toString('utf8').trim();
    const res = await call(
      'GET',
      `/latest/meta-data/ram/security-credentials/${roleName}`,
      token ? { 'x-aliyun-ecs-metadata-token': token } : {},
    );
    if (res.status !== 200) {
      throw aliyunFailed(
        `ECS metadata service: no credentials for RAM role ${roleName} (HTTP ${res.status})`,
      );
    }
    const doc = parseJsonObject(res.body.toString('utf8'), 'ECS metadata credentials');
    if (doc.Code !== undefined && doc.Code !== 'Success') {
      throw aliyunFailed(
        `ECS metadata service refused credentials for RAM role ${roleName} (${String(doc.Code)})`,
      );
    }
    const str = (k: string) => (typeof doc[k] === 'string' && doc[k] ? (doc[k] as string) : undefined);
    const accessKeyId = str('AccessKeyId');
    const accessKeySecret = str('AccessKeySecret');
    const securityToken = str('SecurityToken');
    if (!accessKeyId || !accessKeySecret || !securityToken) {
      throw aliyunFailed('ECS metadata credentials lack AccessKeyId, AccessKeySecret or SecurityToken');
    }
    return { accessKeyId, accessKeySecret, securityToken };
  } catch (e) {
    if (e instanceof TransportError) throw aliyunFailed(`ECS metadata service ${base.host}: ${e.message}`, e);
    throw e;
  }
}
