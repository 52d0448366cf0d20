import { X509Certificate } from 'node:crypto';
import { KbsClientError } from './errors.js';

/*
 * Checks of a KBS endpoint that need no network code, so the CDH can validate its configuration at
 * start without loading the HTTPS client (src/cdh/deferred-kbs.ts).
 */

/** A KBS base URL: http(s), no credentials, query or fragment; trailing `/` removed. */
export function normalizeBaseUrl(url: string): URL {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    throw new KbsClientError('INVALID_ARGUMENT', `KBS URL ${JSON.stringify(url)} is not a valid URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new KbsClientError('INVALID_ARGUMENT', `KBS URL must use http or https, got ${u.protocol}`);
  }
  if (u.username || u.password) {
    throw new KbsClientError('INVALID_ARGUMENT', 'KBS URL must not carry credentials');
  }
  if (u.search || u.hash) {
    throw new KbsClientError('INVALID_ARGUMENT', 'KBS URL must not have a query or fragment');
  }
  u.pathname = u.pathname.replace(/\/+$/, '');
  return u;
}

/** Validates PEM root certificates early, so a bad `--cert-file` fails with a clear message. */
export function checkRoots(pems: readonly string[]): void {
  for (const pem of pems) {
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
    if (!blocks)
      throw new KbsClientError('INVALID_ARGUMENT', 'extra root certificate: no PEM CERTIFICATE block');
    for (const b of blocks) {
      try {
        new X509Certificate(b);
      } catch (e) {
        throw new KbsClientError(
          'INVALID_ARGUMENT',
          'extra root certificate: not a valid X.509 certificate',
          { cause: e },
        );
      }
    }
  }
}
