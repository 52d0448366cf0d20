import { createHash, sign } from 'node:crypto';
import { aliyunFailed, type ClientKey } from './credential.js';
import { type DkmsMessage, decodeDkms, encodeDkms } from './dkms-proto.js';
import { httpsCall, TransportError } from './https.js';

/*
 * Client of a KMS instance's own API ("dkms-gcs" 0.2): protobuf bodies POSTed to
 * https://<kms_instance_id>.cryptoservice.kms.aliyuncs.com/, authenticated by an RSA-SHA256 (PKCS#1
 * v1.5) signature of the client key over
 *
 *   POST \n <SHA-256 of body, upper-case hex> \n application/x-protobuf \n <Date> \n
 *   <every x-kms-* header as "name:value\n", sorted by name> /
 *
 * sent as `Authorization: Bearer <base64 signature>`. The access-key header really is spelled
 * `x-kms-acccesskeyid` (three c's) by the service. TLS trusts only the instance's CA
 * (`PrivateKmsCA_<kms_instance_id>.pem`).
 */

export const DKMS_API_VERSION = 'dkms-gcs-0.2';
export const DKMS_SIGNATURE_METHOD = 'RSA_PKCS1_SHA_256';
const CONTENT_TYPE = 'application/x-protobuf';

/** Connect to this `host:port` instead of the instance's public name (tests, private routing). */
export const DKMS_ADDRESS_ENV = 'COCOSEAL_ALIYUN_DKMS_ADDRESS';

export function instanceHost(kmsInstanceId: string): string {
  return `${kmsInstanceId}.cryptoservice.kms.aliyuncs.com`;
}

/** The string the client key signs (exported for the test mock, which verifies it). */
export function dkmsStringToSign(
  bodySha256: string,
  date: string,
  kmsHeaders: Record<string, string>,
): string {
  const canonical = Object.keys(kmsHeaders)
    .filter((k) => k.startsWith('x-kms-'))
    .sort()
    .map((k) => `${k}:${kmsHeaders[k].trim()}\n`)
    .join('');
  return `POST\n${bodySha256}\n${CONTENT_TYPE}\n${date}\n${canonical}/`;
}

export class DkmsClient {
  constructor(
    private readonly key: ClientKey,
    private readonly kmsInstanceId: string,
    private readonly caPem: string,
  ) {}

  async call<T>(api: 'Encrypt' | 'Decrypt' | 'GetSecretValue', request: Record<string, unknown>): Promise<T> {
    const body = encodeDkms(`${api}Request` as DkmsMessage, request);
    const sha = createHash('sha256').update(body).digest('hex').toUpperCase();
    const date = new Date().toUTCString();
    const kms: Record<string, string> = {
      'x-kms-apiversion': DKMS_API_VERSION,
      'x-kms-apiname': api,
      'x-kms-signaturemethod': DKMS_SIGNATURE_METHOD,
      'x-kms-acccesskeyid': this.key.keyId,
    };
    const signature = sign(
      'sha256',
      Buffer.from(dkmsStringToSign(sha, date, kms), 'utf8'),
      this.key.privateKey,
    );
    const host = instanceHost(this.kmsInstanceId);
    let res: Awaited<ReturnType<typeof httpsCall>>;
    try {
      res = await httpsCall({
        method: 'POST',
        host,
        path: '/',
        headers: {
          accept: CONTENT_TYPE,
          'content-type': CONTENT_TYPE,
          'content-sha256': sha,
          date,
          'user-agent': 'cocoseal',
          ...kms,
          authorization: `Bearer ${signature.toString('base64')}`,
        },
        body,
        ca: this.caPem,
        connect: process.env[DKMS_ADDRESS_ENV] || undefined,
      });
    } catch (e) {
      if (e instanceof TransportError) throw aliyunFailed(`KMS instance ${host}: ${e.message}`, e);
      throw e;
    }
    if (res.status !== 200) {
      let detail = `HTTP ${res.status}`;
      try {
        const err = decodeDkms<{ ErrorCode: string; ErrorMessage: string; RequestId: string }>(
          'Error',
          res.body,
        );
        if (err.ErrorCode)
          detail = `${err.ErrorCode}: ${err.ErrorMessage} (HTTP ${res.status}, request ${err.RequestId})`;
      } catch {
        // Not a protobuf error body: keep the status.
      }
      throw aliyunFailed(`KMS instance ${api} failed: ${detail}`);
    }
    try {
      return decodeDkms<T>(`${api}Response` as DkmsMessage, res.body);
    } catch (e) {
      throw aliyunFailed(`KMS instance ${api}: malformed response`, e);
    }
  }
}
