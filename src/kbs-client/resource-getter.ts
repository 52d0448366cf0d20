import { isCocosealError } from '../common/errors.js';
import { KmsError, type KmsErrorCode } from '../kms/errors.js';
import type { ResourceGetter } from '../kms/resource-getter.js';
import { parseResourceUri, type ResourceUri } from '../sealed/resource-uri.js';
import { KbsClient, type KbsClientOptions } from './client.js';
import { KbsClientError, type KbsClientErrorCode } from './errors.js';
import type { KbsClientStats } from './observer.js';

/*
 * `ResourceGetter` over a KBS (cc_kbc): `kbs[+plugin]://[host]/a/b/c[?q]` →
 * `GET <url>/kbs/v0/<plugin>/a/b/c[?q]` (sealed-secret.md §8). The URI's host is informational; the
 * configured KBS URL is always used. One long-lived client, so one attestation serves every fetch
 * for the token's lifetime (cdh.md §9 #1).
 */

const KMS_CODES: Partial<Record<KbsClientErrorCode, KmsErrorCode>> = {
  KBS_UNREACHABLE: 'KBS_UNREACHABLE',
  ATTESTATION_FAILED: 'ATTESTATION_FAILED',
  UNAUTHORIZED: 'POLICY_DENIED',
  RESOURCE_NOT_FOUND: 'RESOURCE_NOT_FOUND',
  INVALID_ARGUMENT: 'RESOURCE_URI_INVALID',
};

/** Maps a KBS client failure to the KMS layer's codes; the cause keeps the detailed error. */
export function toKmsError(e: unknown, uri: string): KmsError {
  if (e instanceof KmsError) return e;
  if (e instanceof KbsClientError) {
    return new KmsError(KMS_CODES[e.code] ?? 'KMS_FAILED', `${uri}: ${e.toLine()}`, {
      cause: e,
      provider: 'kbs',
    });
  }
  if (isCocosealError(e) && e.code === 'RESOURCE_URI_INVALID') {
    return new KmsError('RESOURCE_URI_INVALID', e.message, { cause: e, provider: 'kbs' });
  }
  const why = isCocosealError(e) ? e.toLine() : e instanceof Error ? e.message : String(e);
  return new KmsError('KMS_FAILED', `${uri}: ${why}`, { cause: e, provider: 'kbs' });
}

export class KbsResourceGetter implements ResourceGetter {
  readonly client: KbsClient;

  /** Either client options (a client is built and owned) or an existing client to share. */
  constructor(options: KbsClientOptions | { client: KbsClient }) {
    this.client = 'client' in options ? options.client : new KbsClient(options);
  }

  get stats(): Readonly<KbsClientStats> {
    return this.client.stats;
  }

  async get(uri: string): Promise<Uint8Array> {
    let parsed: ResourceUri;
    try {
      parsed = parseResourceUri(uri);
    } catch (e) {
      throw toKmsError(e, uri);
    }
    try {
      return await this.client.getResource({ plugin: parsed.plugin, path: parsed.path, query: parsed.query });
    } catch (e) {
      throw toKmsError(e, uri);
    }
  }

  close(): void {
    this.client.close();
  }
}
