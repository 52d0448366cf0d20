import { createHmac } from 'node:crypto';
import { httpsCall, TransportError } from '../aliyun/https.js';
import { KmsError } from '../errors.js';

/*
 * eHSM-KMS REST client (Intel eHSM "API Reference"): POST <endpoint>/ehsm?Action=<Action> with a JSON
 * body {appid, timestamp, payload, sign}, where
 *
 *   sign = base64(HMAC-SHA256(ApiKey, "appid=<appid>&payload=<k1=v1&k2=v2...>&timestamp=<ms>"))
 *
 * parameters (and the payload's own members) sorted by name, empty values left out. The API key is
 * never sent. Results come back as {code, message, result} with code 200 on success (HTTP status is
 * 200 either way).
 *
 * The optional `nonce` member is not sent: the server signs over what it receives, and leaving it out
 * keeps older servers (which do not know it) and newer ones agreeing on the string. Older servers use
 * the timestamp itself as the replay nonce, so timestamps are made strictly increasing per process.
 */

export const EHSM_PROVIDER = 'ehsm';

export function ehsmFailed(message: string, cause?: unknown): KmsError {
  return new KmsError('KMS_FAILED', message, { provider: EHSM_PROVIDER, cause });
}

type Params = { [key: string]: string | Params | undefined };

/** The eHSM signing string: sorted `k=v` pairs, nested objects the same way, empty values skipped. */
export function ehsmSignString(params: Params): string {
  return Object.keys(params)
    .sort()
    .filter((k) => params[k] !== undefined && params[k] !== '')
    .map((k) => {
      const v = params[k]!;
      return `${k}=${typeof v === 'object' ? ehsmSignString(v) : v}`;
    })
    .join('&');
}

let lastTimestamp = 0;
function uniqueTimestamp(): string {
  lastTimestamp = Math.max(Date.now(), lastTimestamp + 1);
  return String(lastTimestamp);
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

export function checkEndpoint(endpoint: unknown): URL {
  if (typeof endpoint !== 'string' || !endpoint) throw ehsmFailed('provider_settings.endpoint must be a URL');
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw ehsmFailed(`endpoint ${JSON.stringify(endpoint)} is not a URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw ehsmFailed(`endpoint ${endpoint} must use https (plain http only on loopback)`);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw ehsmFailed(`endpoint ${endpoint} must not carry a query, fragment or credentials`);
  }
  return url;
}

export class EhsmClient {
  private readonly url: URL;

  constructor(
    private readonly appId: string,
    private readonly apiKey: string,
    endpoint: string,
    /** Trusted roots (PEM) for the endpoint; the system roots when absent. */
    private readonly caPem?: string,
  ) {
    this.url = checkEndpoint(endpoint);
  }

  async call(
    action: 'Encrypt' | 'Decrypt',
    payload: Record<string, string>,
  ): Promise<Record<string, unknown>> {
    const timestamp = uniqueTimestamp();
    const sign = createHmac('sha256', this.apiKey)
      .update(ehsmSignString({ appid: this.appId, payload, timestamp }), 'utf8')
      .digest('base64');
    const body = Buffer.from(JSON.stringify({ appid: this.appId, payload, timestamp, sign }), 'utf8');
    const tls = this.url.protocol === 'https:';
    const base = this.url.pathname.replace(/\/+$/, '');
    let res: Awaited<ReturnType<typeof httpsCall>>;
    try {
      res = await httpsCall({
        method: 'POST',
        host: this.url.hostname.replace(/^\[|\]$/g, ''),
        ...(this.url.port ? { port: Number(this.url.port) } : {}),
        path: `${base}/ehsm?Action=${action}`,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body,
        tls,
        ...(this.caPem ? { ca: this.caPem } : {}),
      });
    } catch (e) {
      if (e instanceof TransportError) throw ehsmFailed(`endpoint ${this.url.origin}: ${e.message}`, e);
      throw e;
    }
    let doc: { code?: unknown; message?: unknown; result?: unknown };
    try {
      doc = JSON.parse(res.body.toString('utf8'));
    } catch {
      throw ehsmFailed(`${action}: endpoint answered HTTP ${res.status} without a JSON document`);
    }
    if (res.status !== 200 || doc.code !== 200) {
      throw ehsmFailed(
        `${action} failed: code ${String(doc.code ?? res.status)}: ${String(doc.message ?? '')}`,
      );
    }
    if (typeof doc.result !== 'object' || doc.result === null)
      throw ehsmFailed(`${action}: response has no result`);
    return doc.result as Record<string, unknown>;
  }
}
