import { NS } from '../storage/namespaces.js';
import type { Storage } from '../storage/storage.js';
import { RESOURCE_POLICIES } from './builtin.js';
import {
  type CompiledPolicy,
  celErrorMessage,
  compilePolicy,
  fromCel,
  isUndefinedError,
  PolicyCompileError,
} from './cel.js';

/*
 * The resource policy (kbs-protocol.md §6.3): one policy, id `resource-policy`, stored in namespace
 * `kbs`. We store CEL under `resource-policy.cel` (never upstream's `.rego` key, so Rego imported from
 * a Trustee directory is never mistaken for CEL). The default is installed only if absent. The stored
 * text is read on every request, so replicas sharing a database see a new policy at once; compilation
 * is cached by digest.
 */

export const RESOURCE_POLICY_ID = 'resource-policy';
const KEY = 'resource-policy.cel';

export interface ResourceData {
  plugin: string;
  'resource-path': string[];
  query: Record<string, string>;
}

export interface PolicyDecision {
  allow: boolean;
  /** The condition that decided, as CEL source, or a description. */
  decidedBy: string;
  /** Why a deny happened (evaluation error or false result). */
  reason?: string;
}

export class PolicyEngineFailure extends Error {}

export class ResourcePolicyStore {
  /* The last stored bytes seen and their compilation: a byte comparison per request instead of a hash. */
  #lastBytes: Buffer | undefined;
  #lastCompiled: CompiledPolicy | undefined;

  constructor(private readonly storage: Storage) {}

  async installDefault(): Promise<void> {
    try {
      await this.storage.set(NS.resourcePolicy, KEY, Buffer.from(RESOURCE_POLICIES.default), {
        overwrite: false,
      });
    } catch (e) {
      if ((e as { code?: string }).code !== 'ALREADY_EXISTS') throw e;
    }
  }

  async source(): Promise<string> {
    const b = await this.storage.get(NS.resourcePolicy, KEY);
    return b ? Buffer.from(b).toString('utf8') : RESOURCE_POLICIES.default;
  }

  async current(): Promise<CompiledPolicy> {
    const b = await this.storage.get(NS.resourcePolicy, KEY);
    const bytes = b
      ? Buffer.from(b.buffer, b.byteOffset, b.byteLength)
      : Buffer.from(RESOURCE_POLICIES.default);
    if (this.#lastCompiled && this.#lastBytes?.equals(bytes)) return this.#lastCompiled;
    const compiled = compilePolicy(bytes.toString('utf8'), 'resource');
    this.#lastBytes = Buffer.from(bytes);
    this.#lastCompiled = compiled;
    return compiled;
  }

  /** Compile-checks, then stores. A policy that does not compile leaves the stored one unchanged. */
  async set(source: string): Promise<CompiledPolicy> {
    const compiled = compilePolicy(source, 'resource');
    await this.storage.set(NS.resourcePolicy, KEY, Buffer.from(source, 'utf8'), { overwrite: true });
    return compiled;
  }

  ids(): string[] {
    return [RESOURCE_POLICY_ID];
  }
}

/** Decides a request. Throws PolicyEngineFailure on a genuine evaluation error (not a missing field). */
export function evaluateResourcePolicy(
  p: CompiledPolicy,
  input: unknown,
  data: ResourceData,
): PolicyDecision {
  const r = p.run({ input, data });
  if (r === true)
    return { allow: true, decidedBy: p.op === 'single' ? p.conditions[0].text : 'all conditions hold' };
  const err = celErrorMessage(r);
  if (err !== undefined) {
    if (isUndefinedError(err)) return { allow: false, decidedBy: 'undefined', reason: err };
    throw new PolicyEngineFailure(err);
  }
  return {
    allow: false,
    decidedBy: 'result',
    reason: r === false ? 'policy evaluated to false' : 'policy result is not a boolean',
  };
}

export interface ConditionReport {
  condition: string;
  result: unknown;
}

export interface DryRunReport {
  allow: boolean;
  /** The condition that decided the outcome. */
  decided_by: string;
  reason?: string;
  combinator: 'and' | 'or' | 'single';
  conditions: ConditionReport[];
  policy_digest: string;
}

/** Evaluates every top-level condition and names the one that decided (first false of an `&&`, first true of an `||`). */
export function explainResourcePolicy(p: CompiledPolicy, input: unknown, data: ResourceData): DryRunReport {
  const vars = { input, data };
  const conditions: ConditionReport[] = p.conditions.map((c) => {
    const r = c.run(vars);
    const err = celErrorMessage(r);
    return { condition: c.text, result: err !== undefined ? { error: err } : fromCel(r) };
  });
  let allow: boolean;
  let reason: string | undefined;
  try {
    const d = evaluateResourcePolicy(p, input, data);
    allow = d.allow;
    reason = d.reason;
  } catch (e) {
    allow = false;
    reason = `policy engine error: ${(e as Error).message}`;
  }
  let decided: ConditionReport | undefined;
  if (p.op === 'or') decided = allow ? conditions.find((c) => c.result === true) : undefined;
  else decided = allow ? undefined : conditions.find((c) => c.result !== true);
  const decided_by =
    decided?.condition ??
    (allow
      ? p.op === 'single'
        ? conditions[0].condition
        : `all ${conditions.length} conditions hold`
      : `no condition holds (${conditions.length} alternatives)`);
  return { allow, decided_by, reason, combinator: p.op, conditions, policy_digest: p.digest };
}

export { PolicyCompileError };
