import type { IncomingHttpHeaders } from 'node:http';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';

/*
 * One HTTP(S) exchange with a deadline and a response size cap. `connect` lets a caller reach a
 * service at another address (private endpoint, loopback test mock) while TLS still verifies the
 * service's real host name (`servername`) against the given CA.
 */

export interface HttpsCall {
  method: 'GET' | 'POST' | 'PUT';
  /** Real host name of the service: Host header and TLS name check. */
  host: string;
  port?: number;
  path: string;
  headers: Record<string, string>;
  body?: Uint8Array;
  /** Trusted roots (PEM); the system roots when absent. */
  ca?: string | string[];
  /** `host:port` to connect to instead of `host`. */
  connect?: string;
  tls?: boolean;
  timeoutMs?: number;
  maxResponseBytes?: number;
}

export interface HttpsResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A transport-level failure: no HTTP response (unreachable, TLS, timeout). */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export function splitHostPort(s: string): { host: string; port: number | undefined } {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(s);
  if (!m) throw new TransportError(`bad address ${s}`, undefined);
  return { host: m[1].replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : undefined };
}

export function httpsCall(call: HttpsCall): Promise<HttpsResult> {
  const tls = call.tls ?? true;
  const target = call.connect ? splitHostPort(call.connect) : { host: call.host, port: call.port };
  const port = target.port ?? call.port ?? (tls ? 443 : 80);
  const hostHeader = call.port && call.port !== (tls ? 443 : 80) ? `${call.host}:${call.port}` : call.host;
  const headers: Record<string, string> = { ...call.headers, host: hostHeader };
  if (call.body) headers['content-length'] = String(call.body.length);
  const limit = call.maxResponseBytes ?? 4 << 20;
  return new Promise((resolve, reject) => {
    const options = {
      method: call.method,
      host: target.host,
      port,
      path: call.path,
      headers,
      // SNI carries names only (RFC 6066); an IP host is still checked against the certificate's IP SANs.
      ...(tls ? { servername: isIP(call.host) ? '' : call.host, ...(call.ca ? { ca: call.ca } : {}) } : {}),
    };
    const req = (tls ? httpsRequest : httpRequest)(options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > limit) {
          req.destroy(new TransportError(`response larger than ${limit} bytes`, 'ERESPONSETOOLARGE'));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', (e) => reject(toTransportError(e)));
    });
    req.setTimeout(call.timeoutMs ?? 15_000, () => {
      req.destroy(new TransportError('request timed out', 'ETIMEDOUT'));
    });
    req.on('error', (e) => reject(toTransportError(e)));
    req.end(call.body ? Buffer.from(call.body) : undefined);
  });
}

function toTransportError(e: unknown): TransportError {
  if (e instanceof TransportError) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|HOSTNAME/.test(code)) {
    return new TransportError(`TLS verification failed (${code})`, code);
  }
  return new TransportError(code ? `unreachable (${code})` : (e as Error).message, code);
}
