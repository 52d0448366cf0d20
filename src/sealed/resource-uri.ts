import { SealedSecretError } from './errors.js';

/*
 * Resource URIs `kbs[+plugin]://[host[:port]]/seg/seg/…[?query]` (sealed-secret.md §8). Parsed with
 * WHATWG URL rules as upstream's Rust `url` crate does (dot segments resolved, fragment dropped).
 * The host is informational: fetches always go to the configured KBS.
 */

export interface ResourceUri {
  /** `resource` for plain `kbs`, else the name after `kbs+`. */
  plugin: string;
  /** `host` or `host:port`; empty when absent. */
  kbsAddress: string;
  segments: string[];
  /** Segments joined with `/`, no leading slash (the offline-fs lookup key and KBS path). */
  path: string;
  /** Text after `?`; undefined when there is no `?` at all. */
  query: string | undefined;
}

const invalid = (uri: string, why: string) =>
  new SealedSecretError('RESOURCE_URI_INVALID', `illegal kbs resource uri ${JSON.stringify(uri)}: ${why}`);

export function parseResourceUri(uri: string): ResourceUri {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw invalid(uri, 'not a URL');
  }
  const scheme = url.protocol.slice(0, -1);
  let plugin: string;
  if (scheme === 'kbs') plugin = 'resource';
  else if (scheme.startsWith('kbs+')) {
    plugin = scheme.slice(4);
    if (plugin === '') throw invalid(uri, 'empty plugin name after "kbs+"');
  } else throw invalid(uri, `scheme must be kbs or kbs+<plugin>, not ${scheme}`);
  // Opaque forms like `kbs:abc` would lose their first character upstream; require an authority.
  if (!url.href.startsWith(`${url.protocol}//`)) throw invalid(uri, 'missing "//" after the scheme');
  if (url.pathname === '' || url.pathname === '/') throw invalid(uri, 'empty resource path');
  const segments = url.pathname.slice(1).split('/');
  const hasQuery = url.search !== '' || /\?/.test(url.href.split('#')[0]);
  return {
    plugin,
    kbsAddress: url.host,
    segments,
    path: segments.join('/'),
    query: hasQuery ? url.search.slice(1) : undefined,
  };
}

export function isResourceUri(s: string): boolean {
  try {
    parseResourceUri(s);
    return true;
  } catch {
    return false;
  }
}

/** Re-serialization as upstream: `<scheme>://<kbs_address>/<path>[?query]`, plugin `resource` as `kbs`. */
export function formatResourceUri(u: ResourceUri): string {
  const scheme = u.plugin === 'resource' ? 'kbs' : `kbs+${u.plugin}`;
  return `${scheme}://${u.kbsAddress}/${u.path}${u.query === undefined ? '' : `?${u.query}`}`;
}

/** `GET <kbsUrl>/kbs/v0/<plugin>/<path>[?query]` for a resource URI (cc_kbc mapping). */
export function resourceUrl(kbsUrl: string, u: ResourceUri): string {
  return `${kbsUrl.replace(/\/+$/, '')}/kbs/v0/${u.plugin}/${u.path}${u.query === undefined ? '' : `?${u.query}`}`;
}
