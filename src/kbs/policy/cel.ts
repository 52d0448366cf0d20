import { createHash } from 'node:crypto';
import {
  type CelEnv,
  CelScalar,
  type CelValue,
  celEnv,
  celFunc,
  isCelError,
  isCelList,
  isCelMap,
  isCelUint,
  parse,
  plan,
  unparse,
} from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';

/*
 * CEL policies (replacing upstream's Rego). A policy is one CEL expression. Compilation parses,
 * statically checks identifiers and function names (so a typo fails at upload, not at release time),
 * plans once, and is cached by the SHA-256 of the source text.
 *
 * Reference values: `query_reference_value("name")`, `rv_match("name", value)` and
 * `rv_min("name", value)` read the RVPS. CEL functions are synchronous, so the names a policy uses
 * must be string literals; they are collected at compile time and fetched before evaluation.
 */

export class PolicyCompileError extends Error {}

export interface Condition {
  /** The condition's source, re-printed from the AST. */
  text: string;
  run: (vars: Record<string, unknown>) => unknown;
}

export interface CompiledPolicy {
  source: string;
  /** `sha256:<hex>` of the source text (audit and cache key). */
  digest: string;
  run: (vars: Record<string, unknown>, rv?: ReadonlyMap<string, unknown>) => unknown;
  /** Top-level `&&` or `||` operands, for dry runs. */
  op: 'and' | 'or' | 'single';
  conditions: Condition[];
  /** Reference-value names the policy reads. */
  referenceValues: string[];
}

/* Reference values for the evaluation in progress (evaluation is synchronous, so no interleaving). */
let currentRv: ReadonlyMap<string, unknown> | undefined;

function rvGet(name: string): unknown {
  return currentRv?.get(name) ?? null;
}

/** CEL value → plain JS (bigint kept) for comparisons. */
function plain(v: unknown): unknown {
  if (isCelList(v as CelValue)) return [...(v as Iterable<unknown>)].map(plain);
  if (isCelMap(v as CelValue)) {
    const m = v as unknown as { keys(): Iterable<unknown>; get(k: unknown): unknown };
    const out: Record<string, unknown> = {};
    for (const k of m.keys()) out[String(k)] = plain(m.get(k));
    return out;
  }
  if (isCelUint(v as CelValue)) return (v as { value: bigint }).value;
  return v;
}

function scalarEq(a: unknown, b: unknown): boolean {
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    return Number(a) === Number(b);
  }
  if (a && b && typeof a === 'object' && typeof b === 'object')
    return JSON.stringify(a) === JSON.stringify(b, bigintJson);
  return a === b;
}

function bigintJson(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? Number(v) : v;
}

/** The reference value as a list of candidates: a list as is, a scalar as a one-element list. */
function candidates(name: string): unknown[] | undefined {
  const v = rvGet(name);
  if (v === null || v === undefined) return undefined;
  return Array.isArray(v) ? v : [v];
}

const FUNCS = [
  celFunc(
    'query_reference_value',
    [CelScalar.STRING],
    CelScalar.DYN,
    (name: string) => toCel(rvGet(name)) as never,
  ),
  celFunc('rv_match', [CelScalar.STRING, CelScalar.DYN], CelScalar.BOOL, (name: string, value: CelValue) => {
    const c = candidates(name);
    const v = plain(value);
    return c?.some((x) => scalarEq(x, v)) ?? false;
  }),
  celFunc('rv_min', [CelScalar.STRING, CelScalar.DYN], CelScalar.BOOL, (name: string, value: CelValue) => {
    const c = candidates(name);
    const v = plain(value);
    if (c === undefined || c.length !== 1) return false;
    const min = c[0];
    const n = typeof v === 'bigint' || typeof v === 'number' ? Number(v) : Number.NaN;
    const m = typeof min === 'bigint' || typeof min === 'number' ? Number(min) : Number.NaN;
    return Number.isFinite(n) && Number.isFinite(m) && n >= m;
  }),
];
const RV_FUNCS = new Set(['query_reference_value', 'rv_match', 'rv_min']);

export type PolicyKind = 'resource' | 'attestation';

const ENVS: Record<PolicyKind, { env: CelEnv; vars: Set<string> }> = {
  resource: {
    env: celEnv({ variables: { input: CelScalar.DYN, data: CelScalar.DYN }, funcs: [...strings] }),
    vars: new Set(['input', 'data']),
  },
  attestation: {
    env: celEnv({ variables: { input: CelScalar.DYN, tee: CelScalar.DYN }, funcs: [...strings, ...FUNCS] }),
    vars: new Set(['input', 'tee']),
  },
};

/** JSON → CEL input: integers become CEL `int` (bigint) so `x + 1` and `x == 1` behave as expected. */
export function toCel(v: unknown): unknown {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : v;
  if (Array.isArray(v)) return v.map(toCel);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = toCel(x);
    return out;
  }
  return v;
}

/** CEL result → JSON-compatible JS (maps to objects, ints to numbers). */
export function fromCel(v: unknown): unknown {
  const p = plain(v);
  const conv = (x: unknown): unknown => {
    if (typeof x === 'bigint') return Number(x);
    if (Array.isArray(x)) return x.map(conv);
    if (x && typeof x === 'object' && !(x instanceof Uint8Array)) {
      return Object.fromEntries(Object.entries(x).map(([k, y]) => [k, conv(y)]));
    }
    return x;
  };
  return conv(p);
}

// biome-ignore lint/suspicious/noExplicitAny: the CEL AST is a protobuf message tree
type Node = any;

/** Static checks over the AST: identifiers bound, functions known, reference-value names literal. */
function check(expr: Node, kind: PolicyKind, rvNames: Set<string>): void {
  const { env, vars } = ENVS[kind];
  const visit = (e: Node, scope: Set<string>): void => {
    if (!e || typeof e !== 'object' || !e.exprKind) return;
    const k = e.exprKind;
    switch (k.case) {
      case 'identExpr':
        if (!vars.has(k.value.name) && !scope.has(k.value.name)) {
          throw new PolicyCompileError(
            `unknown identifier "${k.value.name}" (available: ${[...vars].join(', ')})`,
          );
        }
        return;
      case 'selectExpr':
        visit(k.value.operand, scope);
        return;
      case 'callExpr': {
        const fn: string = k.value.function;
        if (!/^[_@!]/.test(fn) && !env.funcs.find(fn))
          throw new PolicyCompileError(`unknown function "${fn}"`);
        if (RV_FUNCS.has(fn)) {
          const a = k.value.args[0]?.exprKind;
          if (a?.case !== 'constExpr' || a.value.constantKind?.case !== 'stringValue') {
            throw new PolicyCompileError(`${fn}: the reference-value name must be a string literal`);
          }
          rvNames.add(a.value.constantKind.value);
        }
        if (k.value.target) visit(k.value.target, scope);
        for (const a of k.value.args) visit(a, scope);
        return;
      }
      case 'listExpr':
        for (const x of k.value.elements) visit(x, scope);
        return;
      case 'structExpr':
        for (const en of k.value.entries) {
          if (en.keyKind?.case === 'mapKey') visit(en.keyKind.value, scope);
          visit(en.value, scope);
        }
        return;
      case 'comprehensionExpr': {
        const c = k.value;
        visit(c.iterRange, scope);
        visit(c.accuInit, scope);
        const inner = new Set(scope);
        for (const v of [c.iterVar, c.iterVar2, c.accuVar]) if (v) inner.add(v);
        visit(c.loopCondition, inner);
        visit(c.loopStep, inner);
        visit(c.result, inner);
        return;
      }
      default:
        return;
    }
  };
  visit(expr, new Set());
}

function flatten(expr: Node, fn: string, out: Node[]): Node[] {
  const k = expr.exprKind;
  if (k?.case === 'callExpr' && k.value.function === fn && !k.value.target && k.value.args.length === 2) {
    flatten(k.value.args[0], fn, out);
    flatten(k.value.args[1], fn, out);
  } else {
    out.push(expr);
  }
  return out;
}

const MAX_SOURCE = 256 * 1024;
const CACHE_MAX = 256;
const cache = new Map<string, CompiledPolicy>();

export function policyDigest(source: string): string {
  return `sha256:${createHash('sha256').update(source, 'utf8').digest('hex')}`;
}

/**
 * Blanks `//` comments (outside string literals), keeping offsets and line numbers. The CEL parser
 * mishandles consecutive comment lines before some tokens, so comments never reach it.
 */
export function blankComments(src: string): string {
  let out = '';
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === '"' || c === "'") {
      const triple = src.startsWith(c.repeat(3), i);
      const q = triple ? c.repeat(3) : c;
      let j = i + q.length;
      while (j < src.length && !src.startsWith(q, j)) {
        if (src[j] === '\\') j++;
        else if (!triple && src[j] === '\n') break;
        j++;
      }
      j = Math.min(src.length, j + q.length);
      out += src.slice(i, j);
      i = j;
    } else if (c === '/' && src[i + 1] === '/') {
      let j = i;
      while (j < src.length && src[j] !== '\n') j++;
      out += ' '.repeat(j - i);
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

export function compilePolicy(source: string, kind: PolicyKind): CompiledPolicy {
  const digest = policyDigest(source);
  const key = `${kind}:${digest}`;
  const hit = cache.get(key);
  if (hit) return hit;
  if (source.length > MAX_SOURCE) throw new PolicyCompileError(`policy is larger than ${MAX_SOURCE} bytes`);
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(blankComments(source));
  } catch (e) {
    throw new PolicyCompileError(`CEL syntax error: ${(e as Error).message.replace(/^<input>:/, 'at ')}`);
  }
  const rvNames = new Set<string>();
  check(parsed.expr, kind, rvNames);
  const { env } = ENVS[kind];
  let whole: (v: Record<string, unknown>) => unknown;
  try {
    const p = plan(env, parsed);
    whole = (v) => p(v as never);
  } catch (e) {
    throw new PolicyCompileError(`CEL planning failed: ${(e as Error).message}`);
  }
  let op: CompiledPolicy['op'] = 'single';
  let parts = flatten(parsed.expr, '_&&_', []);
  if (parts.length > 1) op = 'and';
  else {
    parts = flatten(parsed.expr, '_||_', []);
    if (parts.length > 1) op = 'or';
  }
  const conditions: Condition[] =
    op === 'single'
      ? [{ text: safeUnparse(parsed.expr), run: whole }]
      : parts.map((e) => {
          const p = plan(env, e);
          return { text: safeUnparse(e), run: (v: Record<string, unknown>) => p(v as never) };
        });
  const compiled: CompiledPolicy = {
    source,
    digest,
    op,
    conditions,
    referenceValues: [...rvNames].sort(),
    run: (vars, rv) => withRv(rv, () => whole(vars)),
  };
  if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
  cache.set(key, compiled);
  return compiled;
}

function safeUnparse(e: Node): string {
  try {
    return unparse(e);
  } catch {
    return '<expression>';
  }
}

export function withRv<T>(rv: ReadonlyMap<string, unknown> | undefined, f: () => T): T {
  const prev = currentRv;
  currentRv = rv;
  try {
    return f();
  } finally {
    currentRv = prev;
  }
}

export function celErrorMessage(v: unknown): string | undefined {
  return isCelError(v as CelValue) ? (v as Error).message : undefined;
}

/** A missing field or key: Rego would make the rule undefined (deny), not fail. */
export function isUndefinedError(msg: string): boolean {
  return /^(field not found|no such key|index .* out of bounds)/.test(msg);
}
