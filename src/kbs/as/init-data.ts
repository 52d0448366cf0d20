import { createHash } from 'node:crypto';
import { parse as parseToml } from 'smol-toml';

/*
 * Init-data (kbs-protocol.md §5.3): a TOML document with `version`, `algorithm` and a `[data]` table of
 * strings. The digest is over the raw TOML bytes as received; hardware verifiers compare it with
 * HOST_DATA (SNP) or MRCONFIGID (TDX). The claims expose `data`, with `cdh.toml`/`aa.toml` parsed into
 * JSON and `policy.rego` replaced by `agent_policy_claims` taken from its `policy_data := {…}` block.
 */

export type InitDataAlgorithm = 'sha256' | 'sha384' | 'sha512' | 'sm3';
const ALGORITHMS = new Set<string>(['sha256', 'sha384', 'sha512', 'sm3']);

export class InitDataError extends Error {}

export interface InitData {
  digest: Buffer;
  algorithm: InitDataAlgorithm;
  claims: Record<string, unknown>;
}

/** TOML values to plain JSON (dates as RFC 3339 strings, big integers as numbers). */
function toJson(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.toISOString();
  if (Array.isArray(v)) return v.map(toJson);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = toJson(x);
    return out;
  }
  return v;
}

/** The object literal after `policy_data :=` in an agent policy, when it is JSON. */
export function agentPolicyClaims(rego: string): unknown {
  const m = /policy_data\s*:=\s*\{/.exec(rego);
  if (!m) return undefined;
  const start = m.index + m[0].length - 1;
  let depth = 0;
  let inString = false;
  for (let i = start; i < rego.length; i++) {
    const c = rego[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) {
      const text = rego.slice(start, i + 1);
      for (const candidate of [text, text.replace(/,(\s*[}\]])/g, '$1')]) {
        try {
          return JSON.parse(candidate);
        } catch {
          // try the next form
        }
      }
      return undefined;
    }
  }
  return undefined;
}

export function parseInitData(body: string): InitData {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(body) as Record<string, unknown>;
  } catch (e) {
    throw new InitDataError(`init-data is not TOML: ${(e as Error).message.split('\n')[0]}`);
  }
  if (typeof doc.version !== 'string') throw new InitDataError('init-data: "version" must be a string');
  const algorithm = doc.algorithm;
  if (typeof algorithm !== 'string' || !ALGORITHMS.has(algorithm)) {
    throw new InitDataError('init-data: "algorithm" must be one of sha256, sha384, sha512, sm3');
  }
  const data = doc.data ?? {};
  if (!data || typeof data !== 'object' || Array.isArray(data))
    throw new InitDataError('init-data: [data] must be a table');
  const claims: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) {
    if (typeof v !== 'string') throw new InitDataError(`init-data: data.${k} must be a string`);
    if (k === 'cdh.toml' || k === 'aa.toml') {
      try {
        claims[k] = toJson(parseToml(v));
      } catch {
        throw new InitDataError(`init-data: data."${k}" is not TOML`);
      }
    } else if (k === 'policy.rego') {
      const p = agentPolicyClaims(v);
      if (p !== undefined) claims.agent_policy_claims = p;
    } else {
      claims[k] = v;
    }
  }
  const digest = createHash(algorithm).update(body, 'utf8').digest();
  return { digest, algorithm: algorithm as InitDataAlgorithm, claims };
}
