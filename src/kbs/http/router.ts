import { AdminDenied } from '../admin/auth.js';
import {
  getReferenceValue,
  getResourcePolicyIds,
  getResourcePolicySource,
  listAudit,
  policyDryRun,
  setAttestationPolicy,
  setReferenceValue,
  setResourcePolicy,
  verifyAudit,
} from '../admin/handlers.js';
import type { KbsDeps, Reply, RequestCtx } from '../context.js';
import { errors } from '../errors.js';
import { handleAttest, handleAuth } from '../rcar/handlers.js';
import { handleResourceDelete, handleResourceGet, handleResourceSet } from '../resource/handlers.js';

/*
 * Dispatch under `/kbs/v0/` (kbs-protocol.md §2): a built-in name matches only with its listed
 * method; anything else falls through to the plugin lookup, so `GET /kbs/v0/auth` is 404
 * `Plugin auth not found`. Without a built-in AS, the AS endpoints are plugin lookups too.
 */

type Handler = (deps: KbsDeps, ctx: RequestCtx, actor: string) => Promise<Reply>;

interface Route {
  handler: Handler;
  /** Admin endpoint (name used in AdminAuthAccess). */
  admin: boolean;
  /** Needs the built-in attestation service. */
  needsAs: boolean;
  /** Matches only the bare segment (no sub-path). */
  exact: boolean;
}

const route = (handler: Handler, admin: boolean, needsAs: boolean, exact = true): Route => ({
  handler,
  admin,
  needsAs,
  exact,
});

const BUILTINS: Record<string, Record<string, Route>> = {
  auth: { POST: route((d, c) => handleAuth(d, c), false, true) },
  attest: { POST: route((d, c) => handleAttest(d, c), false, true) },
  'attestation-policy': { POST: route(setAttestationPolicy, true, true) },
  'resource-policy': {
    POST: route(
      (d, c, a) => (c.segments[1] === 'check' ? policyDryRun(d, c) : setResourcePolicy(d, c, a)),
      true,
      false,
      false,
    ),
    GET: route(
      (d, c) => (c.segments.length === 1 ? getResourcePolicyIds(d) : getResourcePolicySource(d, c)),
      true,
      false,
      false,
    ),
  },
  'reference-value': {
    POST: route(setReferenceValue, true, true),
    GET: route((d, c) => getReferenceValue(d, c), true, true, false),
  },
  'policy-dry-run': { POST: route((d, c) => policyDryRun(d, c), true, false) },
  audit: {
    GET: route((d, c) => (c.segments[1] === 'verify' ? verifyAudit(d) : listAudit(d, c)), true, false, false),
  },
};

export async function dispatch(deps: KbsDeps, ctx: RequestCtx): Promise<Reply> {
  const name = ctx.segments[0] ?? '';
  const r = BUILTINS[name]?.[ctx.method];
  if (r && (!r.needsAs || deps.as) && (r.exact ? ctx.segments.length === 1 : true)) {
    if (name === 'reference-value' && ctx.method === 'GET' && ctx.segments.length < 2)
      throw errors.rvps('a reference value id is required');
    if (name === 'audit' && ctx.segments.length > 2) throw errors.pluginNotFound(name);
    if (
      name === 'resource-policy' &&
      ctx.method === 'POST' &&
      ctx.segments.length > 1 &&
      (ctx.segments.length > 2 || ctx.segments[1] !== 'check')
    ) {
      throw errors.pluginNotFound(name);
    }
    let actor = 'anonymous';
    if (r.admin) {
      try {
        actor = deps.admin.authorize(ctx.headers.authorization, ctx.target, deps.clock()).actor;
      } catch (e) {
        if (e instanceof AdminDenied) throw errors.adminAccess(name, e.message);
        throw e;
      }
    }
    return r.handler(deps, ctx, actor);
  }
  if (name === 'resource' && deps.resourcePlugin) {
    if (ctx.method === 'GET') return handleResourceGet(deps, ctx);
    if (ctx.method === 'POST' || ctx.method === 'DELETE') {
      let actor: string;
      try {
        actor = deps.admin.authorize(ctx.headers.authorization, ctx.target, deps.clock()).actor;
      } catch (e) {
        if (e instanceof AdminDenied) throw errors.adminPlugin(e.message);
        throw e;
      }
      return ctx.method === 'POST'
        ? handleResourceSet(deps, ctx, actor)
        : handleResourceDelete(deps, ctx, actor);
    }
    throw errors.pluginInternal(`method ${ctx.method} is not supported by the resource plugin`);
  }
  throw errors.pluginNotFound(name);
}
