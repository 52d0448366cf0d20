import {
  audit,
  auditStrict,
  auditText,
  EMPTY_OK,
  type KbsDeps,
  type Reply,
  type RequestCtx,
} from '../context.js';
import { errors, type KbsError } from '../errors.js';
import {
  evaluateResourcePolicy,
  PolicyEngineFailure,
  RESOURCE_POLICY_ID,
  type ResourceData,
} from '../policy/resource-policy.js';
import { sessionIdFromCookie } from '../rcar/sessions.js';
import { NS } from '../storage/namespaces.js';
import { TokenRejected, type VerifiedToken } from '../token/verifier.js';

/*
 * The `resource` plugin (kbs-protocol.md §6). GET order: credentials (cookie, then Bearer), token
 * verification, resource policy, path validation, storage, JWE. Path validation comes after the
 * policy as upstream does, so a bad path is 401 `PluginInternalError`, never a 404 that would tell an
 * unauthenticated caller which paths exist.
 */

const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*$/;
const MAX_SEGMENT = 64;

/** `repo/type/tag` when the segments are a valid resource path. */
export function resourcePath(segments: string[]): string | undefined {
  if (segments.length !== 3) return undefined;
  for (const s of segments) if (s.length > MAX_SEGMENT || !SEGMENT.test(s)) return undefined;
  return segments.join('/');
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The bearer token of an `Authorization` header value. */
function bearerToken(ctx: RequestCtx, auth: string): string | undefined {
  // The header that carried this connection's last verified token: the same token, no parsing.
  if (ctx.conn?.authorization === auth) return ctx.conn.jwt;
  return BEARER.exec(auth)?.[1];
}

/** The token of the attested session named by the cookie (and the session prefix for the access log). */
async function sessionToken(deps: KbsDeps, ctx: RequestCtx, sid: string): Promise<string | undefined> {
  ctx.sessionPrefix = sid.slice(0, 8);
  const s = await deps.sessions.get(sid);
  return s && 'Attested' in s.state ? s.state.Attested.token : undefined;
}

/**
 * Verifies `jwt` (from the `header` value, or from a session), reusing this connection's last
 * successful verification of the same token: then only its expiry is checked, as on a cache hit.
 * Only verified tokens are remembered, so unauthenticated requests leave nothing on the connection.
 */
function verifyToken(deps: KbsDeps, ctx: RequestCtx, jwt: string, header?: string): VerifiedToken {
  const conn = ctx.conn;
  if (conn?.token && conn.jwt === jwt) {
    try {
      return deps.tokens.revalidate(jwt, conn.token);
    } catch (e) {
      conn.authorization = conn.jwt = conn.token = undefined;
      throw e;
    }
  }
  const token = deps.tokens.verify(jwt);
  if (conn && deps.tokens.caching) {
    conn.authorization = header;
    conn.jwt = jwt;
    conn.token = token;
  }
  return token;
}

export async function handleResourceGet(deps: KbsDeps, ctx: RequestCtx): Promise<Reply> {
  const path = ctx.segments.slice(1);
  let token: VerifiedToken | undefined;
  const deny = async (e: KbsError, policyDigest?: string): Promise<never> => {
    deps.metrics.resources.inc({ outcome: e.variant });
    // Only requests with a verified token are audited: unauthenticated noise must not flood the log.
    if (token)
      await audit(deps, {
        kind: 'resource',
        decision: 'deny',
        reason: auditText(e.variant),
        tee: token?.tee,
        evidenceDigest: token?.digest,
        path: auditText(path.join('/')),
        policyId: policyDigest ? RESOURCE_POLICY_ID : undefined,
        policyDigest,
      });
    throw e;
  };

  // Credentials: an attested session's token (cookie), else `Authorization: Bearer`.
  const sid = sessionIdFromCookie(ctx.headers.cookie);
  let jwt = sid ? await sessionToken(deps, ctx, sid) : undefined;
  let header: string | undefined;
  if (!jwt && ctx.headers.authorization) {
    header = ctx.headers.authorization;
    jwt = bearerToken(ctx, header);
  }
  if (!jwt) return deny(errors.tokenNotFound());
  try {
    token = verifyToken(deps, ctx, jwt, header);
  } catch (e) {
    if (e instanceof TokenRejected) return deny(errors.tokenInvalid(e.message));
    throw e;
  }

  const policy = await deps.resourcePolicies.current();
  const memoKey = `${policy.digest}\n${ctx.target}`;
  let allow = token.decisions.get(memoKey);
  if (allow === undefined) {
    const data: ResourceData = { plugin: 'resource', 'resource-path': path, query: ctx.query };
    try {
      const d = evaluateResourcePolicy(policy, token.celInput, data);
      allow = d.allow;
    } catch (e) {
      if (e instanceof PolicyEngineFailure) return deny(errors.policyEngine(e.message), policy.digest);
      throw e;
    }
    if (token.decisions.size >= 64) token.decisions.clear();
    token.decisions.set(memoKey, allow);
  }
  if (!allow) return deny(errors.policyDeny(), policy.digest);

  const key = resourcePath(path);
  if (!key) return deny(errors.pluginInternal('invalid resource path'), policy.digest);
  let secret: Uint8Array | undefined;
  try {
    secret = await deps.storage.get(NS.resource, key);
  } catch (e) {
    return deny(
      errors.pluginInternal(`storage read failed: ${(e as { code?: string }).code ?? 'error'}`, e),
      policy.digest,
    );
  }
  if (!secret) return deny(errors.pluginInternal('resource not found'), policy.digest);

  // The release is recorded (durably) before the secret leaves, and the JWE is computed meanwhile: the
  // append blocks for an fsync, the encryption runs on a worker, so one waits for the other instead
  // of adding up. A JWE failure after the allow record is recorded as a deny that follows it.
  const encrypted = deps.jwe.encrypt(token.teeKey, secret).then(
    (body) => ({ body }),
    (e: unknown) => ({ error: e as Error }),
  );
  try {
    await auditStrict(deps, {
      kind: 'resource',
      decision: 'allow',
      action: 'get',
      tee: token.tee,
      evidenceDigest: token.digest,
      path: key,
      policyId: RESOURCE_POLICY_ID,
      policyDigest: policy.digest,
    });
  } catch (e) {
    deps.metrics.resources.inc({ outcome: 'PluginInternalError' });
    throw errors.pluginInternal('audit log unavailable: refusing to release without a record', e);
  }
  const jwe = await encrypted;
  if ('error' in jwe) return deny(errors.jwe(jwe.error.message, jwe.error), policy.digest);
  const body = jwe.body;
  deps.metrics.resources.inc({ outcome: 'released' });
  return { status: 200, headers: { 'content-type': 'application/json' }, body };
}

export async function handleResourceSet(deps: KbsDeps, ctx: RequestCtx, actor: string): Promise<Reply> {
  const key = resourcePath(ctx.segments.slice(1));
  if (!key) throw errors.pluginInternal('invalid resource path');
  try {
    await deps.storage.set(NS.resource, key, ctx.body, { overwrite: true });
  } catch (e) {
    throw errors.pluginInternal(`storage write failed: ${(e as { code?: string }).code ?? 'error'}`, e);
  }
  await audit(deps, {
    kind: 'admin',
    decision: 'allow',
    action: 'set-resource',
    path: key,
    actor: auditText(actor),
  });
  // Upstream answers plugin writes with `Content-Type: text/xml` (kbs-protocol.md §2).
  return { ...EMPTY_OK, headers: { 'content-type': 'text/xml' } };
}

export async function handleResourceDelete(deps: KbsDeps, ctx: RequestCtx, actor: string): Promise<Reply> {
  const key = resourcePath(ctx.segments.slice(1));
  if (!key) throw errors.pluginInternal('invalid resource path');
  let deleted: boolean;
  try {
    deleted = await deps.storage.delete(NS.resource, key);
  } catch (e) {
    throw errors.pluginInternal(`storage delete failed: ${(e as { code?: string }).code ?? 'error'}`, e);
  }
  if (!deleted) throw errors.pluginInternal('resource not found');
  await audit(deps, {
    kind: 'admin',
    decision: 'allow',
    action: 'delete-resource',
    path: key,
    actor: auditText(actor),
  });
  return { ...EMPTY_OK, headers: { 'content-type': 'text/xml' } };
}
