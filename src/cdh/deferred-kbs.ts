import type { EvidenceSource } from '../attestation/attesters/evidence-source.js';
import type { KbsClientOptions } from '../kbs-client/client.js';
import { checkRoots, normalizeBaseUrl } from '../kbs-client/endpoint.js';
import type { KbsResourceGetter } from '../kbs-client/resource-getter.js';
import type { ResourceGetter } from '../kms/resource-getter.js';

/*
 * The CDH's KBS client, built on its first fetch (cdh.md §9 #8: connect lazily). The KBS client pulls
 * in node:https/tls and the RCAR, JWE and token code, about a sixth of the daemon's start time, and a
 * daemon without `[[credentials]]` does not fetch anything before its first call (issue 4).
 *
 * A bad KBS URL or certificate must still stop the daemon at start, so `checkKbsEndpoint` runs the
 * KBS client's own construction checks (src/kbs-client/endpoint.ts), which need no network code.
 */

export interface KbsGetterOptions extends KbsClientOptions {
  extraRootCertsPem: string[];
  evidence: EvidenceSource;
}

/** Throws the KbsClientError the client's constructor would throw for this URL and these roots. */
export function checkKbsEndpoint(url: string, extraRootCertsPem: readonly string[]): void {
  normalizeBaseUrl(url);
  checkRoots(extraRootCertsPem);
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
