import type { EvidenceSource } from '../attestation/attesters/evidence-source.js';
import { selectAttesters } from '../attestation/attesters/evidence-source.js';
import { CryptoError } from '../crypto/errors.js';
import { decryptResourceResponse } from '../crypto/jwe.js';
import { KbsClientError } from './errors.js';
import { KbsHttp, type KbsResponse } from './http.js';
import { describeKbsResponse, parseKbsError } from './kbs-error.js';
import { emptyStats, type KbsClientObserver, type KbsClientStats, notify } from './observer.js';
import { type Attestation, RcarClient } from './rcar.js';
import type { TeeKeyAlgorithm, TeeKeyPair } from './tee-key.js';
import { CachingTokenSource, type TokenGrant, type TokenSource } from './token-source.js';

/*
 * The guest-side KBS client: attestation (or an external token source), resource GETs with the
 * retry rules of kbs-protocol.md §12 / cdh.md §7.3, and JWE decryption (§6.4).
 *
 * GET rules: at most `getAttempts` (3) GETs per fetch.
 *  - 200: decrypt with the grant's TEE key.
 *  - 401 with a reused token: drop it, get a fresh one, retry.
 *  - 401 with a token fresh for this fetch (bearer mode): final. Re-attesting would present the same
 *    evidence and get the same answer; upstream re-attests up to three times anyway.
 *  - 401 `PluginInternalError`: final (the policy allowed the call; the plugin failed).
 *  - 404: final RESOURCE_NOT_FOUND. Anything else (403 included): final.
 */

export type ResourceAuth = 'bearer' | 'cookie';

export interface KbsClientOptions {
  /** KBS base URL; a trailing `/` is trimmed. */
  url: string;
  /** Extra trusted root certificates, PEM (upstream `--cert-file` / `KBS_CERT`). */
  extraRootCertsPem?: string | readonly string[];
  /** Per-request deadline; default 60 s. */
  timeoutMs?: number;
  /**
   * How GETs authenticate: `bearer` (`Authorization: Bearer`, the passport path CDH uses; default)
   * or `cookie` (the RCAR session cookie, background check).
   */
  auth?: ResourceAuth;
  /** Attesters; default: `selectAttesters()` (sample, plus sampledevice with `ENABLE_SAMPLE_DEVICE`). */
  evidence?: EvidenceSource;
  /** A fixed TEE key; default: a fresh key per attestation. */
  teeKey?: TeeKeyPair;
  /** Algorithm of generated TEE keys; default EC P-256. */
  teeKeyAlgorithm?: TeeKeyAlgorithm;
  /** Init-data TOML text sent with every attestation. */
  initData?: string;
  /** Credentials from elsewhere (an AA `GetToken`, a token file) instead of attesting here. Bearer only. */
  tokenSource?: TokenSource;
  /** RCAR handshakes per attestation; default 5. */
  attestAttempts?: number;
  /** Pause between handshakes; default 1000 ms. */
  attestRetryDelayMs?: number;
  /** GETs per fetch; default 3. */
  getAttempts?: number;
  /** Renew a held token this long before it expires; default 10 s. */
  tokenRefreshMarginMs?: number;
  observer?: KbsClientObserver;
}

export interface ResourceRequest {
  /** First path segment after `/kbs/v0/`; default `resource`. */
  plugin?: string;
  /** The rest of the path, e.g. `default/key/1` (segments already percent-encoded). */
  path: string;
  /** Query string without `?`; forwarded as is (the policy sees it as `data.query`). */
  query?: string;
}

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;
const PLUGIN = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const SAFE_PATH_CHARS = /^[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/;

/** `.`/`..`, also percent-encoded: URL parsing would resolve them and move the request elsewhere. */
function isDotSegment(s: string): boolean {
  const t = s.replace(/%2e/gi, '.');
  return t === '.' || t === '..';
}

/** Validates a resource request and returns the request path below `/kbs/v0`. */
export function resourceRequestPath(req: ResourceRequest): string {
  const plugin = req.plugin ?? 'resource';
  if (!PLUGIN.test(plugin))
    throw new KbsClientError('INVALID_ARGUMENT', `invalid KBS plugin name ${JSON.stringify(plugin)}`);
  const segments = req.path.split('/');
  if (plugin === 'resource') {
    // kbs-protocol.md §6.1: exactly repo/type/tag. Checked here so a typo fails before attesting.
    if (segments.length !== 3 || !segments.every((s) => SEGMENT.test(s))) {
      throw new KbsClientError(
        'INVALID_ARGUMENT',
        `resource path ${JSON.stringify(req.path)} must be <repository>/<type>/<tag>, each segment [A-Za-z0-9_-][A-Za-z0-9_.-]*`,
      );
    }
  } else if (!SAFE_PATH_CHARS.test(req.path) || segments.some(isDotSegment)) {
    throw new KbsClientError(
      'INVALID_ARGUMENT',
      `invalid path ${JSON.stringify(req.path)} for plugin ${plugin}`,
    );
  }
  let p = `/${plugin}/${req.path}`;
  if (req.query !== undefined) {
    if (!SAFE_PATH_CHARS.test(req.query.replace(/\?/g, ''))) {
      throw new KbsClientError(
        'INVALID_ARGUMENT',
        'resource query contains characters that need percent-encoding',
      );
    }
    p += `?${req.query}`;
  }
  return p;
}

export class KbsClient {
  readonly stats: KbsClientStats = emptyStats();
  readonly http: KbsHttp;
  private readonly auth: ResourceAuth;
  private readonly rcar: RcarClient | undefined;
  private readonly source: TokenSource;
  private readonly getAttempts: number;
  private readonly observer: KbsClientObserver | undefined;
  private lastAttestation: Attestation | undefined;

  constructor(options: KbsClientOptions) {
    this.http = new KbsHttp({
      url: options.url,
      extraRootCertsPem: options.extraRootCertsPem,
      timeoutMs: options.timeoutMs,
    });
    this.auth = options.auth ?? 'bearer';
    this.getAttempts = Math.max(1, options.getAttempts ?? 3);
    this.observer = options.observer;
    if (options.tokenSource) {
      if (this.auth === 'cookie') {
        throw new KbsClientError(
          'INVALID_ARGUMENT',
          'cookie authentication needs attestation by this client, not a token source',
        );
      }
      this.source = options.tokenSource;
    } else {
      this.rcar = new RcarClient({
        http: this.http,
        evidence: options.evidence ?? selectAttesters(),
        initData: options.initData,
        teeKey: options.teeKey,
        teeKeyAlgorithm: options.teeKeyAlgorithm,
        attempts: options.attestAttempts,
        retryDelayMs: options.attestRetryDelayMs,
        observer: options.observer,
        stats: this.stats,
      });
      this.source = new CachingTokenSource(() => this.attestForGrant(), {
        refreshMarginMs: options.tokenRefreshMarginMs,
      });
    }
  }

  private async attestForGrant(): Promise<TokenGrant> {
    const a = await this.rcar!.attest();
    this.lastAttestation = a;
    let validUntil = a.token.expiresAt;
    if (this.auth === 'cookie' && a.sessionExpiresAt !== undefined) {
      validUntil = validUntil === undefined ? a.sessionExpiresAt : Math.min(validUntil, a.sessionExpiresAt);
    }
    return { token: a.token, teeKey: a.teeKey.privateKey, cookies: a.cookies, validUntil };
  }

  /** Attests now (the `attest` command) and keeps the result for later GETs. */
  async attest(): Promise<Attestation> {
    if (!(this.source instanceof CachingTokenSource) || !this.rcar) {
      throw new KbsClientError(
        'INVALID_ARGUMENT',
        'this client uses an external token source and cannot attest',
      );
    }
    await this.source.refresh();
    return this.lastAttestation!;
  }

  /** Fetches and decrypts a resource, e.g. `getResource({ path: 'default/key/1' })`. */
  async getResource(req: ResourceRequest): Promise<Buffer> {
    const path = resourceRequestPath(req);
    const plugin = req.plugin ?? 'resource';
    const what = `${plugin}/${req.path}`;
    let last: KbsResponse | undefined;
    let lastFresh = false;
    for (let attempt = 1; attempt <= this.getAttempts; attempt++) {
      const { grant, fresh } = await this.source.acquire();
      if (!fresh) this.stats.tokenReuses++;
      else if (!this.rcar) this.stats.tokenGrants++;
      const headers: Record<string, string> = {};
      if (this.auth === 'cookie') {
        const cookie = grant.cookies?.header();
        if (cookie) headers.cookie = cookie;
      } else {
        headers.authorization = `Bearer ${grant.token.raw}`;
      }
      this.stats.resourceRequests++;
      let res: KbsResponse;
      try {
        res = await this.http.request({ method: 'GET', path, headers });
      } catch (e) {
        notify(this.observer, 'onResourceRequest', { plugin, status: 0, attempt, freshToken: fresh });
        throw e;
      }
      notify(this.observer, 'onResourceRequest', { plugin, status: res.status, attempt, freshToken: fresh });
      if (res.status === 200) return this.decrypt(res, grant, what);
      if (res.status === 404) {
        throw new KbsClientError('RESOURCE_NOT_FOUND', `KBS has no ${what}: ${describeKbsResponse(res)}`, {
          status: 404,
          kbsType: parseKbsError(res.body).type,
        });
      }
      if (res.status !== 401) {
        const code = res.status === 403 ? 'UNAUTHORIZED' : 'KBS_ERROR';
        throw new KbsClientError(code, `KBS refused GET ${what}: ${describeKbsResponse(res)}`, {
          status: res.status,
          kbsType: parseKbsError(res.body).type,
        });
      }
      last = res;
      lastFresh = fresh;
      const type = parseKbsError(res.body).type;
      if (type === 'PluginInternalError') break;
      if (fresh && this.auth === 'bearer') break;
      if (attempt === this.getAttempts || !this.source.invalidate(grant)) break;
      this.stats.reattestations++;
    }
    throw this.unauthorized(last!, what, lastFresh);
  }

  private unauthorized(res: KbsResponse, what: string, fresh: boolean): KbsClientError {
    const { type } = parseKbsError(res.body);
    const desc = describeKbsResponse(res);
    const opts = { status: res.status, kbsType: type };
    if (type === 'PluginInternalError') {
      return new KbsClientError(
        'RESOURCE_NOT_FOUND',
        `KBS could not serve ${what} (${desc}): the resource is missing, the path is invalid, or the KBS storage failed`,
        opts,
      );
    }
    if (type === 'PolicyDeny' || type === 'PolicyEngineError') {
      return new KbsClientError('UNAUTHORIZED', `KBS resource policy denied ${what} (${desc})`, opts);
    }
    const token = fresh ? 'a freshly attested token' : 'the attestation token';
    return new KbsClientError('UNAUTHORIZED', `KBS rejected ${token} for ${what} (${desc})`, opts);
  }

  private decrypt(res: KbsResponse, grant: TokenGrant, what: string): Buffer {
    try {
      return decryptResourceResponse(res.body, grant.teeKey);
    } catch (e) {
      if (e instanceof CryptoError && e.code === 'JSON_INVALID') {
        throw new KbsClientError('RESPONSE_INVALID', `KBS response for ${what} is not a JWE: ${e.message}`, {
          cause: e,
        });
      }
      const why = e instanceof Error ? e.message : String(e);
      throw new KbsClientError(
        'DECRYPT_FAILED',
        `cannot decrypt the KBS response for ${what} with the TEE key (${why}); the token's tee-pubkey must belong to this key`,
        { cause: e },
      );
    }
  }

  /** Closes idle connections. */
  close(): void {
    this.http.close();
  }
}
