import type { IncomingHttpHeaders } from 'node:http';
import { createSecureContext, rootCertificates } from 'node:tls';
import { checkRoots, normalizeBaseUrl } from './endpoint.js';
import { KbsClientError } from './errors.js';
import { ConnectionError, ConnectionPool } from './http1/connections.js';
import { ProxyConfigError, type ProxyRoute, proxyFromEnv } from './http1/proxy.js';
import { Http1ParseError } from './http1/response-parser.js';

/*
 * The one HTTP(S) client every KBS call goes through (kbs-protocol.md §12, cdh.md §7.3): base URL
 * with any trailing `/` trimmed, 60 s timeout, upstream's User-Agent, an optional extra trusted root
 * (upstream `KBS_CERT`). Speaks HTTP/1.1 over its own keep-alive connections (http1/): an extra CA
 * is trusted without a global dispatcher, redirects are never followed (a redirect could carry a
 * Bearer token elsewhere), and response bodies are capped while they arrive.
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
  /**
   * Where proxy settings are read from (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, as
   * upstream's client does); default `process.env`. Pass `{}` for direct connections only.
   */
  proxyEnv?: Record<string, string | undefined>;
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

/** `forwardingProxy`: the proxy that plain-HTTP requests go through, which every failure then involves. */
function networkError(base: URL, e: unknown, forwardingProxy?: ProxyRoute): KbsClientError {
  const code = (e as NodeJS.ErrnoException)?.code ?? '';
  const where = base.origin;
  if (forwardingProxy) {
    const what = code || (e instanceof Error ? e.message : String(e));
    return new KbsClientError(
      'KBS_UNREACHABLE',
      `cannot reach the KBS at ${where} through the proxy ${forwardingProxy.display} (${what})`,
      { cause: e },
    );
  }
  if (e instanceof ConnectionError && e.viaProxy) {
    return new KbsClientError(
      'KBS_UNREACHABLE',
      `cannot reach the KBS at ${where} through ${e.message} (${code})`,
      {
        cause: e,
      },
    );
  }
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

/** Header field names and values we are willing to put on the wire (no CR/LF, no controls). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

function headerLines(headers: Record<string, string>): string {
  let out = '';
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name) || BAD_VALUE.test(value))
      throw new KbsClientError(
        'INVALID_ARGUMENT',
        `request header ${JSON.stringify(name)} has an invalid name or value`,
      );
    out += `${name}: ${value}\r\n`;
  }
  return out;
}

export class KbsHttp {
  readonly baseUrl: URL;
  private readonly base: string;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly userAgent: string;
  private readonly pool: ConnectionPool;
  private readonly proxy: ProxyRoute | undefined;
  /** An unusable proxy setting: every request fails with it (the client itself still constructs). */
  private readonly proxyError: KbsClientError | undefined;

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
    const u = this.baseUrl;
    try {
      this.proxy = proxyFromEnv(u, options.proxyEnv ?? process.env);
    } catch (e) {
      if (!(e instanceof ProxyConfigError)) throw e;
      this.proxyError = new KbsClientError(
        'KBS_UNREACHABLE',
        `cannot reach the KBS at ${u.origin}: ${e.message}`,
      );
    }
    this.pool = new ConnectionPool({
      proxy: this.proxy,
      protocol: u.protocol === 'https:' ? 'https:' : 'http:',
      host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
      // An explicit CA list replaces Node's defaults, so the system roots are listed too; the context
      // is built once (rebuilding it per connection re-parses ~150 roots).
      secureContext:
        u.protocol === 'https:' && extra.length
          ? createSecureContext({ ca: [...rootCertificates, ...extra] })
          : undefined,
    });
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
    const headers: Record<string, string> = {
      host: this.baseUrl.host,
      'user-agent': this.userAgent,
      accept: '*/*',
      ...req.headers,
    };
    if (body) headers['content-length'] = String(body.length);
    if (this.proxyError) throw this.proxyError;
    let requestTarget = `${target.pathname}${target.search}`;
    if (this.pool.forwarding) {
      // A plain-HTTP KBS behind a proxy: absolute form, and the proxy's credentials on each request.
      requestTarget = `${target.origin}${requestTarget}`;
      if (this.proxy?.authorization) headers['proxy-authorization'] = this.proxy.authorization;
    }
    const head = `${req.method} ${requestTarget} HTTP/1.1\r\n${headerLines(headers)}\r\n`;
    try {
      const res = await this.pool.send({
        head,
        body,
        maxBodyBytes: this.maxResponseBytes,
        deadline: performance.now() + this.timeoutMs,
      });
      return { status: res.status, headers: res.headers, body: res.body };
    } catch (e) {
      if (e instanceof Http1ParseError && e.kind === 'too-large' && /body/.test(e.message))
        throw new KbsClientError(
          'RESPONSE_INVALID',
          `KBS response to ${req.method} ${target.pathname} exceeds ${this.maxResponseBytes} bytes`,
        );
      if (e instanceof Http1ParseError && e.kind !== 'incomplete')
        throw new KbsClientError('RESPONSE_INVALID', `KBS at ${this.baseUrl.origin}: ${e.message}`, {
          cause: e,
        });
      if (e instanceof ConnectionError && e.code === 'ETIMEDOUT' && !e.viaProxy)
        throw networkError(
          this.baseUrl,
          Object.assign(new Error(`no answer within ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' }),
        );
      throw networkError(this.baseUrl, e, this.pool.forwarding ? this.proxy : undefined);
    }
  }

  /** Closes every connection. */
  close(): void {
    this.pool.close();
  }
}

/** Reads a header that may repeat (`set-cookie`) as a list. */
export function headerList(headers: IncomingHttpHeaders, name: string): string[] {
  const v = headers[name.toLowerCase()];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}
