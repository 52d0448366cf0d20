import { EarError } from '../../attestation/ear/errors.js';
import {
  type EarStatus,
  statusOf,
  type TrustVector,
  trustVectorFrom,
} from '../../attestation/ear/trust-vector.js';
import { NS } from '../storage/namespaces.js';
import type { Storage } from '../storage/storage.js';
import { ATTESTATION_POLICIES } from './builtin.js';
import { type CompiledPolicy, celErrorMessage, compilePolicy, fromCel } from './cel.js';

/*
 * Attestation policies (kbs-protocol.md §7.1, §8.1): namespace `attestation_service_policy`, key
 * `<id>.cel`. The AS evaluates `<policy id>_<tee class>` (`default_cpu`, `default_gpu`). A policy is a
 * CEL expression yielding a map: either the trust vector itself, or
 * `{"trust_claims": {...}, "extensions": {"<claim name>": value, ...}}` whose extensions are copied
 * into the EAR submodule (for example `ear.trustee.identifiers`).
 */

const POLICY_ID = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$/;

export class AttestationPolicyError extends Error {}

export function checkPolicyId(id: unknown): string {
  if (typeof id !== 'string' || !POLICY_ID.test(id)) {
    throw new AttestationPolicyError(
      'policy_id must match [A-Za-z0-9_-][A-Za-z0-9_.-]* (at most 100 characters)',
    );
  }
  return id;
}

export class AttestationPolicyStore {
  constructor(private readonly storage: Storage) {}

  async installDefaults(): Promise<void> {
    for (const [id, src] of Object.entries(ATTESTATION_POLICIES)) {
      try {
        await this.storage.set(NS.attestationPolicy, `${id}.cel`, Buffer.from(src), { overwrite: false });
      } catch (e) {
        if ((e as { code?: string }).code !== 'ALREADY_EXISTS') throw e;
      }
    }
  }

  async get(id: string): Promise<CompiledPolicy | undefined> {
    const b = await this.storage.get(NS.attestationPolicy, `${checkPolicyId(id)}.cel`);
    return b ? compilePolicy(Buffer.from(b).toString('utf8'), 'attestation') : undefined;
  }

  async set(id: string, source: string): Promise<CompiledPolicy> {
    const compiled = compilePolicy(source, 'attestation');
    await this.storage.set(NS.attestationPolicy, `${checkPolicyId(id)}.cel`, Buffer.from(source, 'utf8'), {
      overwrite: true,
    });
    return compiled;
  }

  async ids(): Promise<string[]> {
    return (await this.storage.list(NS.attestationPolicy))
      .filter((k) => k.endsWith('.cel'))
      .map((k) => k.slice(0, -4));
  }
}

export interface Appraisal {
  trustVector: TrustVector;
  status: EarStatus;
  extensions: Record<string, unknown>;
}

/** Evaluates an attestation policy over CEL-converted annotated evidence. */
export function appraise(
  p: CompiledPolicy,
  input: unknown,
  tee: string,
  rv: ReadonlyMap<string, unknown>,
): Appraisal {
  const r = p.run({ input, tee }, rv);
  const err = celErrorMessage(r);
  if (err !== undefined) throw new AttestationPolicyError(`attestation policy evaluation failed: ${err}`);
  const out = fromCel(r);
  if (!out || typeof out !== 'object' || Array.isArray(out)) {
    throw new AttestationPolicyError('attestation policy must evaluate to a map of trust claims');
  }
  const o = out as Record<string, unknown>;
  let claims: Record<string, unknown> | undefined = o;
  let extensions: Record<string, unknown> = {};
  if ('trust_claims' in o || 'extensions' in o) {
    for (const k of Object.keys(o)) {
      if (k !== 'trust_claims' && k !== 'extensions') {
        throw new AttestationPolicyError(
          `attestation policy result has an unknown member ${JSON.stringify(k)}`,
        );
      }
    }
    claims = o.trust_claims as Record<string, unknown> | undefined;
    if (claims !== undefined && (typeof claims !== 'object' || claims === null || Array.isArray(claims))) {
      throw new AttestationPolicyError('trust_claims must be a map');
    }
    const ext = o.extensions ?? {};
    if (typeof ext !== 'object' || ext === null || Array.isArray(ext))
      throw new AttestationPolicyError('extensions must be a map');
    extensions = ext as Record<string, unknown>;
    for (const k of Object.keys(extensions)) {
      if (
        k.startsWith('ear.status') ||
        k === 'ear.trustworthiness-vector' ||
        k === 'ear.appraisal-policy-id' ||
        k === 'ear.veraison.annotated-evidence'
      ) {
        throw new AttestationPolicyError(`extension ${JSON.stringify(k)} would overwrite an EAR claim`);
      }
    }
  }
  let trustVector: TrustVector;
  try {
    trustVector = trustVectorFrom(claims);
  } catch (e) {
    if (e instanceof EarError) throw new AttestationPolicyError(e.message);
    throw e;
  }
  return { trustVector, status: statusOf(trustVector), extensions };
}
