import { SampleAttester } from '../../src/attestation/attesters/sample.js';
import { decryptResourceResponse } from '../../src/crypto/jwe.js';
import { CookieJar } from '../../src/kbs-client/cookie-jar.js';
import { collectTeeEvidence } from '../../src/kbs-client/evidence.js';
import { headerList, KbsHttp, type KbsResponse } from '../../src/kbs-client/http.js';
import { PROTOCOL_VERSION } from '../../src/kbs-client/rcar.js';
import {
  type HashAlgorithm,
  SUPPORTED_HASH_ALGORITHMS,
  selectHashAlgorithm,
} from '../../src/kbs-client/runtime-data.js';
import type { TeeKeyPair } from '../../src/kbs-client/tee-key.js';

/*
 * The RCAR handshake (kbs-protocol.md §3) one request at a time, so that a test can send each step
 * to a different KBS replica: `/auth` here, `/attest` there, the resource GET somewhere else. Built
 * from the kbs-client library's transport, cookie jar and evidence collection, with the sample TEE.
 */

export interface Challenge {
  nonce: string;
  alg: HashAlgorithm;
  /** Holds the `kbs-session-id` cookie set by `/auth`. */
  cookies: CookieJar;
}

export type GetAuth = { bearer: string } | { cookies: CookieJar };

/** One KBS endpoint (one replica) spoken to over HTTPS with its own keep-alive connections. */
export class RcarSteps {
  readonly http: KbsHttp;

  constructor(url: string, certPem: string) {
    this.http = new KbsHttp({ url, extraRootCertsPem: certPem, timeoutMs: 30_000 });
  }

  async auth(): Promise<Challenge> {
    const res = await this.http.request({
      method: 'POST',
      path: '/auth',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        version: PROTOCOL_VERSION,
        tee: 'sample',
        'extra-params': { 'supported-hash-algorithms': SUPPORTED_HASH_ALGORITHMS },
      }),
    });
    if (res.status !== 200) throw new Error(`/auth at ${this.http.baseUrl.origin}: ${describe(res)}`);
    const cookies = new CookieJar();
    cookies.store(headerList(res.headers, 'set-cookie'));
    const body = JSON.parse(res.body.toString('utf8')) as { nonce: string; 'extra-params'?: unknown };
    return { nonce: body.nonce, alg: selectHashAlgorithm(body['extra-params']), cookies };
  }

  /** `/attest` with the session cookie of `challenge` (possibly set by another replica); returns the token. */
  async attest(challenge: Challenge, teeKey: TeeKeyPair): Promise<string> {
    const evidence = await collectTeeEvidence(
      { primary: new SampleAttester(), additional: [] },
      challenge.alg,
      challenge.nonce,
      teeKey.publicJwk,
    );
    const cookie = challenge.cookies.header();
    const res = await this.http.request({
      method: 'POST',
      path: '/attest',
      headers: { 'content-type': 'application/json', ...(cookie ? { cookie } : {}) },
      body: JSON.stringify({
        'runtime-data': { nonce: challenge.nonce, 'tee-pubkey': teeKey.publicJwk },
        'tee-evidence': evidence,
      }),
    });
    if (res.status !== 200) throw new Error(`/attest at ${this.http.baseUrl.origin}: ${describe(res)}`);
    challenge.cookies.store(headerList(res.headers, 'set-cookie'));
    return (JSON.parse(res.body.toString('utf8')) as { token: string }).token;
  }

  /** A full handshake against this replica alone. */
  async attestHere(teeKey: TeeKeyPair): Promise<{ token: string; cookies: CookieJar }> {
    const c = await this.auth();
    return { token: await this.attest(c, teeKey), cookies: c.cookies };
  }

  /** `GET /kbs/v0/resource/<path>` with a bearer token or a session cookie; the raw response. */
  getResource(path: string, auth: GetAuth): Promise<KbsResponse> {
    const headers: Record<string, string> = {};
    if ('bearer' in auth) headers.authorization = `Bearer ${auth.bearer}`;
    else {
      const cookie = auth.cookies.header();
      if (cookie) headers.cookie = cookie;
    }
    return this.http.request({ method: 'GET', path: `/resource/${path}`, headers });
  }

  /** GET and decrypt the JWE with the TEE key; throws on any status but 200. */
  async secret(path: string, auth: GetAuth, teeKey: TeeKeyPair): Promise<Buffer> {
    const res = await this.getResource(path, auth);
    if (res.status !== 200) {
      throw new Error(`GET ${path} at ${this.http.baseUrl.origin}: ${describe(res)}`);
    }
    return decryptResourceResponse(res.body, teeKey.privateKey);
  }

  close(): void {
    this.http.close();
  }
}

/** `401 PolicyDeny` and the like: the status and the error variant (never a secret). */
export function describe(res: KbsResponse): string {
  let type = '';
  try {
    type = String((JSON.parse(res.body.toString('utf8')) as { type?: string }).type ?? '');
  } catch {}
  return `${res.status} ${type.split('/').at(-1) ?? ''}`.trim();
}

/** The error variant of a KBS error response (`PolicyDeny`, `TokenNotFound`, …). */
export function errorType(res: KbsResponse): string | undefined {
  try {
    return (JSON.parse(res.body.toString('utf8')) as { type?: string }).type?.split('/').at(-1);
  } catch {
    return undefined;
  }
}
