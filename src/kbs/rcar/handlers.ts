import { timingSafeEqual } from 'node:crypto';
import { AttestationError } from '../../attestation/errors.js';
import { parseTeePublicJwk, type TeePublicJwk } from '../../crypto/jwe.js';
import { AttestationFailure } from '../as/service.js';
import { TEE_NAMES } from '../as/verifiers.js';
import { audit, auditText, jsonReply, type KbsDeps, type Reply, type RequestCtx } from '../context.js';
import { errors, KbsError } from '../errors.js';
import { newNonce, sessionIdFromCookie, setCookie } from './sessions.js';

/*
 * RCAR handlers (kbs-protocol.md §3). Every `/auth` failure is 401 `AttestationError` with the cause
 * in the detail (as upstream); every `/attest` failure is 401 with the fixed detail, the cause going
 * only to the log.
 */

export const PROTOCOL_VERSION = '0.4.0';
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/;

function parseJsonObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(body.toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** `=0.4.0`: prerelease rejected, build metadata ignored. */
export function versionMatches(v: string): boolean {
  const m = SEMVER.exec(v);
  return !!m && m[1] === '0' && m[2] === '4' && m[3] === '0' && m[4] === undefined;
}

export async function handleAuth(deps: KbsDeps, ctx: RequestCtx): Promise<Reply> {
  const as = deps.as!;
  const req = parseJsonObject(ctx.body);
  if (!req) throw errors.authFailed('request body is not a JSON object');
  if (typeof req.version !== 'string') throw errors.authFailed('missing field `version`');
  if (!versionMatches(req.version)) {
    throw errors.authFailed(
      `KBS Client Protocol Version Mismatch: expect =${PROTOCOL_VERSION} while the request is ${req.version}`,
    );
  }
  if (typeof req.tee !== 'string' || !TEE_NAMES.has(req.tee)) {
    throw errors.authFailed(`unknown variant for field \`tee\`: ${JSON.stringify(req.tee ?? null)}`);
  }
  if (!('extra-params' in req)) throw errors.authFailed('missing field `extra-params`');
  if (!as.supports(req.tee)) throw errors.authFailed(`TEE ${req.tee} is not supported by this KBS`);
  const challenge = { nonce: newNonce(), 'extra-params': '' };
  // `extra-params` is not kept: only IBM SE reads it, and an unauthenticated caller must not be able
  // to park up to the body limit in every session it opens.
  const session = await deps.sessions.create({ version: req.version, tee: req.tee }, challenge);
  ctx.sessionPrefix = session.id.slice(0, 8);
  return jsonReply(challenge, { 'set-cookie': setCookie(session.id, session.expiresAt) });
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export async function handleAttest(deps: KbsDeps, ctx: RequestCtx): Promise<Reply> {
  const as = deps.as!;
  const id = sessionIdFromCookie(ctx.headers.cookie);
  if (!id) throw errors.attestFailed('no kbs-session-id cookie');
  ctx.sessionPrefix = id.slice(0, 8);
  const body = parseJsonObject(ctx.body);
  if (!body) throw errors.attestFailed('request body is not a JSON object');
  const session = await deps.sessions.get(id);
  if (!session) throw errors.attestFailed('session unknown or expired');
  const cookie = { 'set-cookie': setCookie(session.id, session.expiresAt) };
  if ('Attested' in session.state) return jsonReply({ token: session.state.Attested.token }, cookie);

  const { request, challenge } = session.state.Authed;
  const tee = (request as { tee: string }).tee;
  const fail = async (log: string, cause?: unknown): Promise<never> => {
    deps.metrics.attestations.inc({ outcome: 'failed', tee });
    await audit(deps, { kind: 'attestation', decision: 'deny', tee, reason: auditText(log) });
    throw errors.attestFailed(log, cause);
  };
  const rd = body['runtime-data'] as Record<string, unknown> | undefined;
  if (!rd || typeof rd !== 'object' || Array.isArray(rd)) return fail('runtime-data is missing');
  if (typeof rd.nonce !== 'string' || !sameString(rd.nonce, challenge.nonce))
    return fail('nonce does not match the challenge');
  let teePubkey: TeePublicJwk;
  try {
    teePubkey = parseTeePublicJwk(rd['tee-pubkey']);
  } catch (e) {
    return fail(`tee-pubkey: ${(e as Error).message}`);
  }
  let result: Awaited<ReturnType<typeof as.attest>>;
  try {
    result = await as.attest({
      tee,
      nonce: challenge.nonce,
      teePubkey,
      teeEvidence: body['tee-evidence'],
      initData: body['init-data'],
    });
  } catch (e) {
    // The code names the failed check (REPORT_DATA_MISMATCH, CHAIN_INVALID, …) in the log and audit record.
    if (e instanceof AttestationError) return fail(`${e.code}: ${e.message}`, e);
    if (e instanceof AttestationFailure) return fail(e.message, e);
    if (e instanceof KbsError) throw e;
    return fail(`internal: ${(e as Error).message}`, e);
  }
  await deps.sessions.markAttested(session, result.token);
  deps.metrics.attestations.inc({ outcome: 'success', tee });
  await audit(deps, {
    kind: 'attestation',
    decision: 'allow',
    tee,
    evidenceDigest: result.evidenceDigest,
    reason: `ear.status ${result.status}`,
  });
  deps.log.log('info', 'attested', { tee, status: result.status, session: ctx.sessionPrefix });
  return jsonReply({ token: result.token }, cookie);
}
