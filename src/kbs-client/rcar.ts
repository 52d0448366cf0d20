import { setTimeout as sleep } from 'node:timers/promises';
import type { EvidenceSource } from '../attestation/attesters/evidence-source.js';
import { CookieJar, SESSION_COOKIE } from './cookie-jar.js';
import { KbsClientError } from './errors.js';
import { collectTeeEvidence } from './evidence.js';
import { headerList, type KbsHttp, type KbsResponse } from './http.js';
import { describeKbsResponse, parseKbsError } from './kbs-error.js';
import { type KbsClientObserver, type KbsClientStats, notify } from './observer.js';
import { SUPPORTED_HASH_ALGORITHMS, selectHashAlgorithm } from './runtime-data.js';
import { type TeeKeyAlgorithm, TeeKeyPair } from './tee-key.js';
import { AttestationToken } from './token.js';

/*
 * The RCAR handshake (kbs-protocol.md §3): POST /auth → challenge + session cookie; POST /attest with
 * evidence bound to the nonce and the TEE public key → EAR token. Up to 5 handshakes, 1 s apart (§12).
 */

/** The only protocol version the KBS accepts (exact match, §3.1). */
export const PROTOCOL_VERSION = '0.4.0';

export interface RcarOptions {
  http: KbsHttp;
  evidence: EvidenceSource;
  /** Init-data TOML text, sent as `init-data` (§3.3, §5.3). */
  initData?: string;
  /** Use this TEE key for every handshake; otherwise a fresh key is generated per handshake. */
  teeKey?: TeeKeyPair;
  teeKeyAlgorithm?: TeeKeyAlgorithm;
  /** Handshakes before giving up; default 5. */
  attempts?: number;
  /** Pause between handshakes; default 1000 ms. */
  retryDelayMs?: number;
  observer?: KbsClientObserver;
  stats?: KbsClientStats;
}

/** The result of one successful handshake. */
export interface Attestation {
  token: AttestationToken;
  teeKey: TeeKeyPair;
  /** The session cookie jar (background-check mode sends it on resource GETs). */
  cookies: CookieJar;
  /** Expiry of the `kbs-session-id` cookie (epoch ms), when the KBS set one. */
  sessionExpiresAt: number | undefined;
}

const JSON_HEADERS = { 'content-type': 'application/json' };

function rejected(step: 'auth' | 'attest', http: KbsHttp, res: KbsResponse): KbsClientError {
  const { type } = parseKbsError(res.body);
  const hint =
    step === 'auth' && res.status === 404
      ? ' (this KBS does not offer attestation: a resource-only KBS needs a token from its issuer)'
      : '';
  return new KbsClientError(
    'ATTESTATION_FAILED',
    `KBS ${http.baseUrl.origin} rejected /${step}: ${describeKbsResponse(res)}${hint}`,
    { status: res.status, kbsType: type },
  );
}

function parseJsonObject(res: KbsResponse, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(res.body.toString('utf8'));
  } catch (e) {
    throw new KbsClientError('RESPONSE_INVALID', `${what} is not JSON`, { cause: e });
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) {
    throw new KbsClientError('RESPONSE_INVALID', `${what} is not a JSON object`);
  }
  return v as Record<string, unknown>;
}

/** Errors a retry cannot fix: bad local input, or a KBS without attestation (404 on /auth). */
function permanent(e: unknown): boolean {
  if (!(e instanceof KbsClientError)) return false;
  return (
    e.code === 'INVALID_ARGUMENT' ||
    e.code === 'TEE_KEY_INVALID' ||
    (e.code === 'ATTESTATION_FAILED' && e.status === 404)
  );
}

export class RcarClient {
  private readonly attempts: number;
  private readonly retryDelayMs: number;

  constructor(private readonly options: RcarOptions) {
    this.attempts = Math.max(1, options.attempts ?? 5);
    this.retryDelayMs = Math.max(0, options.retryDelayMs ?? 1000);
  }

  /** Runs the handshake, retrying as upstream does; throws the last failure. */
  async attest(): Promise<Attestation> {
    let last: unknown;
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      const started = performance.now();
      try {
        const result = await this.handshake();
        if (this.options.stats) this.options.stats.attestations++;
        notify(this.options.observer, 'onAttestation', {
          ok: true,
          attempt,
          durationMs: performance.now() - started,
        });
        return result;
      } catch (e) {
        last = e;
        if (this.options.stats) this.options.stats.attestationFailures++;
        notify(this.options.observer, 'onAttestation', {
          ok: false,
          attempt,
          durationMs: performance.now() - started,
          error: e instanceof KbsClientError ? e : undefined,
        });
        if (permanent(e)) throw e;
        if (attempt < this.attempts) await sleep(this.retryDelayMs);
      }
    }
    if (last instanceof KbsClientError) {
      throw new KbsClientError(last.code, `${last.message} (after ${this.attempts} attempts)`, {
        cause: last,
        status: last.status,
        kbsType: last.kbsType,
      });
    }
    throw new KbsClientError('ATTESTATION_FAILED', `attestation failed: ${String(last)}`, { cause: last });
  }

  /** One RCAR exchange. */
  async handshake(): Promise<Attestation> {
    const { http, evidence } = this.options;
    const cookies = new CookieJar();

    const authRes = await http.request({
      method: 'POST',
      path: '/auth',
      headers: JSON_HEADERS,
      body: JSON.stringify({
        version: PROTOCOL_VERSION,
        tee: evidence.primary.tee,
        'extra-params': { 'supported-hash-algorithms': SUPPORTED_HASH_ALGORITHMS },
      }),
    });
    if (authRes.status !== 200) throw rejected('auth', http, authRes);
    cookies.store(headerList(authRes.headers, 'set-cookie'));
    const challenge = parseJsonObject(authRes, 'KBS challenge');
    const nonce = challenge.nonce;
    if (typeof nonce !== 'string' || nonce.length === 0) {
      throw new KbsClientError('RESPONSE_INVALID', 'KBS challenge has no nonce');
    }
    const alg = selectHashAlgorithm(challenge['extra-params']);

    const teeKey =
      this.options.teeKey ?? (await TeeKeyPair.generate(this.options.teeKeyAlgorithm ?? 'P-256'));
    const teeEvidence = await collectTeeEvidence(evidence, alg, nonce, teeKey.publicJwk);
    const body: Record<string, unknown> = {
      'runtime-data': { nonce, 'tee-pubkey': teeKey.publicJwk },
      'tee-evidence': teeEvidence,
    };
    if (this.options.initData !== undefined)
      body['init-data'] = { format: 'toml', body: this.options.initData };

    const cookie = cookies.header();
    const attestRes = await http.request({
      method: 'POST',
      path: '/attest',
      headers: cookie ? { ...JSON_HEADERS, cookie } : JSON_HEADERS,
      body: JSON.stringify(body),
    });
    if (attestRes.status !== 200) throw rejected('attest', http, attestRes);
    cookies.store(headerList(attestRes.headers, 'set-cookie'));
    const raw = parseJsonObject(attestRes, 'KBS attestation response').token;
    if (typeof raw !== 'string') {
      throw new KbsClientError('RESPONSE_INVALID', 'KBS attestation response has no token');
    }
    let token: AttestationToken;
    try {
      token = new AttestationToken(raw);
    } catch (e) {
      throw new KbsClientError(
        'RESPONSE_INVALID',
        `KBS returned an unusable token: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    return { token, teeKey, cookies, sessionExpiresAt: cookies.expiresAt(SESSION_COOKIE) };
  }
}
