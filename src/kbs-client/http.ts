import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { createSecureContext, rootCertificates } from 'node:tls';
import { urlToHttpOptions } from 'node:url';
import { checkRoots, normalizeBaseUrl } from './endpoint.js';
import { KbsClientError } from './errors.js';

/*
 * The one HTTP(S) client every KBS call goes through (kbs-protocol.md §12, cdh.md §7.3): base URL
 * with any trailing `/` trimmed, 60 s timeout, upstream's User-Agent, an optional extra trusted root
 * (upstream `KBS_CERT`). Built on node:http rather than fetch so that an extra CA can be trusted
 * without a global dispatcher, redirects are never followed (a redirect could carry a Bearer token
 * elsewhere), and response bodies are capped.
 */

export const KBS_PREFIX = '/kbs/v0';
const DEFAULT_TIMEOUT_MS = 60_000;
const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
export const USER_AGENT = 'attestation-agent-kbs-client/0.1.0';

export interface KbsHttpOptions {
  /** KBS base URL, e.g. `https://kbs.example:8080` or `http://[::1]:8080`. */
  url: string;
  /** Extra trusted root certificates (PEM text), added to the system roots. */
  extraRootCertsPem?: string | readonly string[];
  /** Whole-request deadline; default 60 s as upstream. */
  timeoutMs?: number;
  userAgent?: string;
  maxResponseBytes?: number;
}

export interface KbsResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface KbsRequest {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path below the base URL, starting with `/` (e.g. `/kbs/v0/auth`), query string included. */
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_|ERR_TLS|ERR_SSL|EPROTO/;

function networkError(base: URL, e: unknown): KbsClientError {
  const code = (e as NodeJS.ErrnoException)?.code ?? '';
  const where = base.origin;
  if (TLS_CODES.test(code)) {
    return new KbsClientError(
      'KBS_UNREACHABLE',
      `TLS connection to ${where} failed (${code}); trust the KBS CA with --cert-file (KBS_CERT) or check the URL's host name`,
      { cause: e },
    );
  }
  const what = code || (e instanceof Error ? e.message : String(e));
  return new KbsClientError('KBS_UNREACHABLE', `cannot reach the KBS at ${where} (${what})`, { cause: e });
}

export class KbsHttp {
  readonly baseUrl: URL;
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly userAgent: string;
  private readonly agent: HttpAgent | HttpsAgent;

  constructor(options: KbsHttpOptions) {
    this.baseUrl = normalizeBaseUrl(options.url);
    this.base = this.baseUrl.href.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.userAgent = options.userAgent ?? USER_AGENT;
    const extra =
      options.extraRootCertsPem === undefined
        ? []
        : typeof options.extraRootCertsPem === 'string'
          ? [options.extraRootCertsPem]
          : [...options.extraRootCertsPem];
    checkRoots(extra);
    if (this.baseUrl.protocol === 'https:') {
      // An explicit `ca` replaces Node's defaults, so the system roots are listed too. The secure
      // context is built once: passed as `ca`, Node would re-serialize ~150 roots into the agent's
      // connection key on every request (~0.6 ms CPU and ~600 KB of garbage per call).
      this.agent = new HttpsAgent({
        keepAlive: true,
        secureContext: extra.length
          ? createSecureContext({ ca: [...rootCertificates, ...extra] })
          : undefined,
      });
    } else {
      this.agent = new HttpAgent({ keepAlive: true });
    }
  }

  /** Base URL plus the KBS prefix and `path` (which must start with `/`). */
  url(path: string): URL {
    const u = new URL(this.base + KBS_PREFIX + path);
    // Defence in depth: whatever the path held, the request stays under <base>/kbs/v0/.
    if (
      !u.pathname.startsWith(`${this.baseUrl.pathname.replace(/\/+$/, '')}${KBS_PREFIX}/`) ||
      u.origin !== this.baseUrl.origin
    ) {
      throw new KbsClientError('INVALID_ARGUMENT', 'request path escapes the KBS API prefix');
    }
    return u;
  }

  async request(req: KbsRequest): Promise<KbsResponse> {
    const target = this.url(req.path);
    const body = req.body === undefined ? undefined : Buffer.from(req.body);
    const headers: Record<string, string> = { 'user-agent': this.userAgent, accept: '*/*', ...req.headers };
    if (body) headers['content-length'] = String(body.length);
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<KbsResponse>((resolve, reject) => {
      let settled = false;
      const done = (err: KbsClientError | undefined, res?: KbsResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve(res!);
      };
      const r = send(
        { ...urlToHttpOptions(target), method: req.method, headers, agent: this.agent },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > this.maxResponseBytes) {
              res.destroy();
              done(
                new KbsClientError(
                  'RESPONSE_INVALID',
                  `KBS response to ${req.method} ${target.pathname} exceeds ${this.maxResponseBytes} bytes`,
                ),
              );
              return;
            }
            chunks.push(c);
          });
          res.on('end', () =>
            done(undefined, {
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks),
            }),
          );
          res.on('error', (e) => done(networkError(this.baseUrl, e)));
          res.on('aborted', () => done(networkError(this.baseUrl, new Error('response aborted'))));
        },
      );
      const timer = setTimeout(() => {
        const e = Object.assign(new Error(`no answer within ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' });
        r.destroy(e);
        done(networkError(this.baseUrl, e));
      }, this.timeoutMs);
      r.on('error', (e) => done(networkError(this.baseUrl, e)));
      r.end(body);
    });
  }

  /** Closes idle keep-alive connections. */
  close(): void {
    this.agent.destroy();
  }
}

/** Reads a header that may repeat (`set-cookie`) as a list. */
export function headerList(headers: IncomingHttpHeaders, name: string): string[] {
  const v = headers[name.toLowerCase()];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}
