import { decodeJws } from '../../attestation/ear/jws.js';
import { decodeB64U } from '../../crypto/base64.js';
import { RvpsError } from '../as/rvps.js';
import {
  audit,
  auditText,
  EMPTY_OK,
  jsonReply,
  type KbsDeps,
  type Reply,
  type RequestCtx,
} from '../context.js';
import { errors, KbsError } from '../errors.js';
import { AttestationPolicyError, appraise, checkPolicyId } from '../policy/attestation-policy.js';
import { type CompiledPolicy, compilePolicy, PolicyCompileError, toCel } from '../policy/cel.js';
import { celForKnownRego, looksLikeRego, REGO_HINT } from '../policy/rego.js';
import { explainResourcePolicy, type ResourceData } from '../policy/resource-policy.js';
import { resourcePath } from '../resource/handlers.js';

/*
 * Built-in admin endpoints (kbs-protocol.md §7): policies, reference values, plus ours: policy dry run
 * and the audit log. Authorization happened before these run.
 */

function jsonBody(ctx: RequestCtx): unknown {
  try {
    return JSON.parse(ctx.body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Decodes an upstream policy upload field: base64url without padding, UTF-8. */
function decodePolicyField(v: string): string {
  const bytes = decodeB64U(v, 'policy');
  const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  return text;
}

export async function setResourcePolicy(deps: KbsDeps, ctx: RequestCtx, actor: string): Promise<Reply> {
  const body = jsonBody(ctx);
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw errors.policyParse('Illegal SetPolicy Request Json');
  const field = (body as Record<string, unknown>).policy;
  if (field === undefined) throw errors.policyParse('No `policy` field inside SetPolicy Request Json');
  if (typeof field !== 'string')
    throw errors.policyParse('`policy` field is not a string in SetPolicy Request Json');
  let source: string;
  try {
    source = decodePolicyField(field);
  } catch (e) {
    throw errors.policyParse(`Failed to decode policy: ${(e as Error).message}`);
  }
  if (looksLikeRego(source)) {
    const cel = celForKnownRego(source);
    if (!cel) throw errors.policyEngine(REGO_HINT);
    deps.log.log('info', 'recognised an upstream sample Rego policy; storing its CEL equivalent');
    source = cel;
  }
  let compiled: CompiledPolicy;
  try {
    compiled = await deps.resourcePolicies.set(source);
  } catch (e) {
    if (e instanceof PolicyCompileError) throw errors.policyEngine(e.message);
    throw errors.policyEngine('the policy could not be stored');
  }
  await audit(deps, {
    kind: 'admin',
    decision: 'allow',
    action: 'set-resource-policy',
    policyId: 'resource-policy',
    policyDigest: compiled.digest,
    actor: auditText(actor),
  });
  return EMPTY_OK;
}

export async function getResourcePolicyIds(deps: KbsDeps): Promise<Reply> {
  return jsonReply(deps.resourcePolicies.ids());
}

/** Ours: `GET /kbs/v0/resource-policy/resource-policy` returns the CEL source (B64U) and its digest. */
export async function getResourcePolicySource(deps: KbsDeps, ctx: RequestCtx): Promise<Reply> {
  if (ctx.segments.length !== 2 || ctx.segments[1] !== 'resource-policy')
    throw errors.pluginNotFound('resource-policy');
  const p = await deps.resourcePolicies.current();
  return jsonReply({
    id: 'resource-policy',
    policy: Buffer.from(p.source, 'utf8').toString('base64url'),
    digest: p.digest,
  });
}

export async function setAttestationPolicy(deps: KbsDeps, ctx: RequestCtx, actor: string): Promise<Reply> {
  const fail = (reason: string) =>
    new KbsError(
      'SET_ATTESTATION_POLICY_FAILED',
      `Attestation error: Set Attestation Policy failed: ${reason}`,
    );
  const body = jsonBody(ctx) as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw fail('the request body is not a JSON object');
  if (typeof body.policy !== 'string') throw fail('`policy` must be a base64url string');
  let id: string;
  try {
    id = checkPolicyId(body.policy_id ?? 'default_cpu');
  } catch (e) {
    throw fail((e as Error).message);
  }
  let source: string;
  try {
    source = decodePolicyField(body.policy);
  } catch (e) {
    throw fail(`Failed to decode policy: ${(e as Error).message}`);
  }
  if (looksLikeRego(source)) throw fail(REGO_HINT);
  let compiled: CompiledPolicy;
  try {
    compiled = await deps.attestationPolicies!.set(id, source);
  } catch (e) {
    if (e instanceof PolicyCompileError || e instanceof AttestationPolicyError) throw fail(e.message);
    throw fail('the policy could not be stored');
  }
  if (id === 'default') {
    deps.log.log(
      'warn',
      'attestation policy "default" is never evaluated; set "default_cpu" or "default_gpu"',
    );
  }
  await audit(deps, {
    kind: 'admin',
    decision: 'allow',
    action: 'set-attestation-policy',
    policyId: id,
    policyDigest: compiled.digest,
    actor: auditText(actor),
  });
  return EMPTY_OK;
}

export async function setReferenceValue(deps: KbsDeps, ctx: RequestCtx, actor: string): Promise<Reply> {
  const body = jsonBody(ctx);
  if (body === undefined) throw errors.rvps('the request body is not JSON');
  let names: string[];
  try {
    names = await deps.rvps!.register(body);
  } catch (e) {
    if (e instanceof RvpsError) throw errors.rvps(e.message);
    throw errors.rvps('storage failure');
  }
  await audit(deps, {
    kind: 'admin',
    decision: 'allow',
    action: 'set-reference-value',
    path: auditText(names.join(',')),
    actor: auditText(actor),
  });
  return { status: 200, headers: { 'content-type': 'application/json' } };
}

export async function getReferenceValue(deps: KbsDeps, ctx: RequestCtx): Promise<Reply> {
  const id = ctx.segments.slice(1).join('/');
  let v: unknown;
  try {
    v = await deps.rvps!.get(decodeURIComponent(id));
  } catch (e) {
    if (e instanceof RvpsError || e instanceof URIError) throw errors.rvps(e.message);
    throw errors.rvps('storage failure');
  }
  if (v === undefined) throw errors.rvps(`reference value ${JSON.stringify(id)} not found`);
  return jsonReply(v);
}

/** The policy of a dry-run request: `policy` (base64url, like uploads) or `policy_text` (plain CEL). */
function dryRunSource(body: Record<string, unknown>): string | undefined {
  if (body.policy_text !== undefined) {
    if (typeof body.policy_text !== 'string') throw errors.policyParse('`policy_text` must be a string');
    return body.policy_text;
  }
  if (body.policy === undefined) return undefined;
  if (typeof body.policy !== 'string') throw errors.policyParse('`policy` field is not a string');
  let text: string;
  try {
    text = decodePolicyField(body.policy);
  } catch (e) {
    throw errors.policyParse(`Failed to decode policy: ${(e as Error).message}`);
  }
  if (looksLikeRego(text)) {
    const cel = celForKnownRego(text);
    if (!cel) throw errors.policyEngine(REGO_HINT);
    return cel;
  }
  return text;
}

/**
 * Dry run (`POST /kbs/v0/resource-policy/check` or `/kbs/v0/policy-dry-run`), without side effects:
 *
 * - resource (default): `{"claims":{…} | "token":"<JWT>", "path":"repo/type/tag", "plugin":"resource",
 *   "query":{}, "policy":"<B64U>" | "policy_text":"<CEL>"}` → the decision and the deciding condition;
 *   the stored policy when none is given. A token is decoded; whether it verifies is reported.
 * - `"kind":"attestation"`: `{"policy_id":"default_cpu" | "policy…", "tee":"sample", "evidence":{…}}`
 *   → trust vector, status and the reference values the policy read.
 */
export async function policyDryRun(deps: KbsDeps, ctx: RequestCtx): Promise<Reply> {
  const body = jsonBody(ctx) as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw errors.policyParse('the dry-run request must be a JSON object');
  const kind = body.kind ?? 'resource';
  const source = dryRunSource(body);
  if (kind === 'resource') {
    let policy: CompiledPolicy;
    try {
      policy =
        source !== undefined ? compilePolicy(source, 'resource') : await deps.resourcePolicies.current();
    } catch (e) {
      throw errors.policyEngine((e as Error).message);
    }
    let claims: unknown = body.claims;
    let token: Record<string, unknown> | undefined;
    if (typeof body.token === 'string') {
      try {
        claims = deps.tokens.verify(body.token).claims;
        token = { valid: true };
      } catch (e) {
        token = { valid: false, error: (e as Error).message };
        try {
          claims = decodeJws(body.token).payload;
        } catch {
          throw errors.policyParse('`token` is not a JWT');
        }
      }
    }
    claims ??= {};
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims))
      throw errors.policyParse('`claims` must be an object');
    const rawPath = typeof body.path === 'string' ? body.path : '';
    const q = body.query ?? {};
    if (
      typeof q !== 'object' ||
      q === null ||
      Array.isArray(q) ||
      !Object.values(q).every((x) => typeof x === 'string')
    ) {
      throw errors.policyParse('`query` must map strings to strings');
    }
    const segments = rawPath.split('/').filter((s) => s !== '');
    const data: ResourceData = {
      plugin: typeof body.plugin === 'string' ? body.plugin : 'resource',
      'resource-path': segments,
      query: q as Record<string, string>,
    };
    const report = explainResourcePolicy(policy, toCel(claims), data);
    const pathValid = data.plugin !== 'resource' || resourcePath(segments) !== undefined;
    return jsonReply({ ...report, path_valid: pathValid, ...(token ? { token } : {}) });
  }
  if (kind === 'attestation') {
    if (!deps.attestationPolicies || !deps.rvps) throw errors.pluginNotFound('policy-dry-run');
    let policy: CompiledPolicy | undefined;
    try {
      policy =
        source !== undefined
          ? compilePolicy(source, 'attestation')
          : await deps.attestationPolicies.get(checkPolicyId(body.policy_id ?? 'default_cpu'));
    } catch (e) {
      throw errors.policyEngine((e as Error).message);
    }
    if (!policy) throw errors.policyEngine(`attestation policy ${JSON.stringify(body.policy_id)} is not set`);
    const rv = await deps.rvps.getMany(policy.referenceValues);
    const tee = typeof body.tee === 'string' ? body.tee : 'sample';
    try {
      const a = appraise(policy, toCel(body.evidence ?? {}), tee, rv);
      return jsonReply({
        status: a.status,
        trust_vector: a.trustVector,
        extensions: a.extensions,
        reference_values: Object.fromEntries(
          policy.referenceValues.map((n) => [n, rv.has(n) ? rv.get(n) : null]),
        ),
        policy_digest: policy.digest,
      });
    } catch (e) {
      throw errors.policyEngine((e as Error).message);
    }
  }
  throw errors.policyParse('`kind` must be "resource" or "attestation"');
}

export async function listAudit(deps: KbsDeps, ctx: RequestCtx): Promise<Reply> {
  if (!deps.audit) throw errors.pluginInternal('no audit log configured');
  const q = ctx.query;
  const since = q.since ? new Date(q.since) : undefined;
  if (since && Number.isNaN(since.getTime()))
    throw errors.pluginInternal('audit: since must be an RFC 3339 time');
  const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
  try {
    const records = await deps.audit.list({
      since,
      path: q.path,
      afterSeq: num(q.after_seq ?? q.after),
      limit: num(q.limit),
    });
    return jsonReply(records);
  } catch (e) {
    throw errors.pluginInternal(`audit list failed: ${(e as Error).message}`, e);
  }
}

export async function verifyAudit(deps: KbsDeps): Promise<Reply> {
  if (!deps.audit) throw errors.pluginInternal('no audit log configured');
  return jsonReply(await deps.audit.verify());
}
