import { X509Certificate } from 'node:crypto';
import type { EvidenceSource } from '../attestation/attesters/evidence-source.js';
import type { KbsClientOptions } from '../kbs-client/client.js';
import { KbsClientError } from '../kbs-client/errors.js';
import type { KbsResourceGetter } from '../kbs-client/resource-getter.js';
import type { ResourceGetter } from '../kms/resource-getter.js';

/*
 * The CDH's KBS client, built on its first fetch (cdh.md §9 #8: connect lazily). The KBS client pulls
 * in node:https/tls and the RCAR, JWE and token code, about a sixth of the daemon's start time, and a
 * daemon without `[[credentials]]` does not fetch anything before its first call (issue 4).
 *
 * A bad KBS URL or certificate must still stop the daemon at start, so `checkKbsEndpoint` repeats the
 * KBS client's own construction checks (src/kbs-client/http.ts `normalizeBaseUrl`/`checkRoots`:
 * same codes and messages) with builtins only. The client checks again when it is built.
 */

export interface KbsGetterOptions extends KbsClientOptions {
  extraRootCertsPem: string[];
  evidence: EvidenceSource;
}

/** Throws the KbsClientError the client's constructor would throw for this URL and these roots. */
export function checkKbsEndpoint(url: string, extraRootCertsPem: readonly string[]): void {
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    throw new KbsClientError('INVALID_ARGUMENT', `KBS URL ${JSON.stringify(url)} is not a valid URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new KbsClientError('INVALID_ARGUMENT', `KBS URL must use http or https, got ${u.protocol}`);
  if (u.username || u.password)
    throw new KbsClientError('INVALID_ARGUMENT', 'KBS URL must not carry credentials');
  if (u.search || u.hash)
    throw new KbsClientError('INVALID_ARGUMENT', 'KBS URL must not have a query or fragment');
  for (const pem of extraRootCertsPem) {
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
          {
            cause: e,
          },
        );
      }
    }
  }
}

/** A ResourceGetter over one long-lived KBS client that is imported and built on the first `get`. */
export class DeferredKbsResourceGetter implements ResourceGetter {
  private client: Promise<KbsResourceGetter> | undefined;

  constructor(private readonly options: KbsGetterOptions) {
    checkKbsEndpoint(options.url, options.extraRootCertsPem);
  }

  private build(): Promise<KbsResourceGetter> {
    this.client ??= import('../kbs-client/resource-getter.js').then(
      ({ KbsResourceGetter }) => new KbsResourceGetter(this.options),
    );
    return this.client;
  }

  async get(uri: string): Promise<Uint8Array> {
    return (await this.build()).get(uri);
  }
}
