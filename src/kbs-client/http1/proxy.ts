import { BlockList, isIP } from 'node:net';

/*
 * Which proxy, if any, a KBS request goes through: the environment variables upstream's client
 * (reqwest, in guest-components' kbs_protocol) reads, with its rules.
 *
 * - `ALL_PROXY`/`all_proxy` for both schemes, overridden per scheme by `HTTPS_PROXY`/`https_proxy`
 *   and `HTTP_PROXY`/`http_proxy`; the upper-case name wins. `HTTP_PROXY` is ignored when
 *   `REQUEST_METHOD` is set (a CGI environment lets clients set it: "httpoxy").
 * - A value without a scheme means `http://`. Empty or unparsable values are ignored.
 * - `NO_PROXY` (else `no_proxy`): comma-separated; `*` matches every host; an IP address or CIDR
 *   block matches IP hosts inside it; a domain matches itself and its subdomains (a leading dot
 *   changes nothing). Ports in entries are not interpreted, as upstream.
 * - Proxy schemes: `http` and `https` (TLS to the proxy). Credentials in the proxy URL are sent as
 *   `Proxy-Authorization: Basic`.
 */

export interface ProxyRoute {
  /** The proxy as configured, without credentials (for messages). */
  display: string;
  tls: boolean;
  host: string;
  port: number;
  /** `Proxy-Authorization` value, when the proxy URL carries credentials. */
  authorization?: string;
}

/** A proxy URL we cannot use: the message says which variable held it. */
export class ProxyConfigError extends Error {
  override name = 'ProxyConfigError';
}

type Env = Record<string, string | undefined>;

function parseProxyUrl(name: string, value: string): ProxyRoute | undefined {
  let u: URL;
  try {
    u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
  } catch {
    return undefined; // unparsable: ignored, as upstream
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new ProxyConfigError(
      `${name}: proxy scheme ${u.protocol.slice(0, -1)} is not supported (http or https)`,
    );
  const tls = u.protocol === 'https:';
  const authorization =
    u.username || u.password
      ? `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`
      : undefined;
  return {
    display: `${u.protocol}//${u.host}`,
    tls,
    host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(u.port || (tls ? 443 : 80)),
    authorization,
  };
}

/** True when `NO_PROXY`'s list exempts `host` (a name or an IP address, without brackets). */
export function bypassesProxy(noProxy: string, host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  const ipFamily = isIP(h);
  for (const raw of noProxy.split(',')) {
    const entry = raw
      .trim()
      .toLowerCase()
      .replace(/^\[(.*)\](\/\d+)?$/, '$1$2');
    if (!entry) continue;
    if (entry === '*') return true;
    const [addr, prefix] = entry.split('/');
    const entryFamily = isIP(addr);
    if (entryFamily) {
      if (ipFamily !== entryFamily) continue;
      const type = entryFamily === 4 ? 'ipv4' : 'ipv6';
      const bits = prefix === undefined ? (entryFamily === 4 ? 32 : 128) : Number(prefix);
      if (!Number.isInteger(bits) || bits < 0 || bits > (entryFamily === 4 ? 32 : 128)) continue;
      const list = new BlockList();
      list.addSubnet(addr, bits, type);
      if (list.check(h, type)) return true;
      continue;
    }
    if (ipFamily) continue;
    const domain = entry.replace(/^\./, '');
    if (h === domain || h.endsWith(`.${domain}`)) return true;
  }
  return false;
}

/** The proxy for a request to `target` (`http:` or `https:`), or undefined for a direct connection. */
export function proxyFromEnv(target: URL, env: Env = process.env): ProxyRoute | undefined {
  const names =
    target.protocol === 'https:'
      ? ['HTTPS_PROXY', 'https_proxy']
      : env.REQUEST_METHOD !== undefined
        ? []
        : ['HTTP_PROXY', 'http_proxy'];
  let route: ProxyRoute | undefined;
  for (const name of [...names, 'ALL_PROXY', 'all_proxy']) {
    const value = env[name]?.trim();
    if (value) route = parseProxyUrl(name, value);
    if (route) break;
  }
  if (!route) return undefined;
  const noProxy = env.NO_PROXY ?? env.no_proxy ?? '';
  if (bypassesProxy(noProxy, target.hostname.replace(/^\[(.*)\]$/, '$1'))) return undefined;
  return route;
}
