import { EarError } from './errors.js';

/*
 * AR4SI trustworthiness vectors as the Trustee EAR broker emits them (kbs-protocol.md §8.2): exactly
 * eight claims, integers in −128..127, and a status that is the worst tier in the vector.
 */

export const TRUST_CLAIMS = [
  'instance-identity',
  'configuration',
  'executables',
  'file-system',
  'hardware',
  'runtime-opaque',
  'storage-opaque',
  'sourced-data',
] as const;

export type TrustClaim = (typeof TRUST_CLAIMS)[number];
export type TrustVector = Record<TrustClaim, number>;
export type EarStatus = 'none' | 'affirming' | 'warning' | 'contraindicated';

const CLAIM_SET = new Set<string>(TRUST_CLAIMS);
const ORDER: EarStatus[] = ['none', 'affirming', 'warning', 'contraindicated'];

/**
 * Tier of one claim value (AR4SI): none −1..1; affirming 2..31 and −32..−2; warning 32..95 and
 * −96..−33; contraindicated 96..127 and −128..−97 (the negative ranges are one wider).
 */
export function tierOf(value: number): EarStatus {
  const a = value < 0 ? -value - 1 : value;
  if (value >= -1 && value <= 1) return 'none';
  if (a <= 31) return 'affirming';
  if (a <= 95) return 'warning';
  return 'contraindicated';
}

export function statusOf(v: TrustVector): EarStatus {
  let worst = 0;
  for (const k of TRUST_CLAIMS) worst = Math.max(worst, ORDER.indexOf(tierOf(v[k])));
  return ORDER[worst];
}

/**
 * Builds a full vector from a policy's partial result. Unknown keys and values outside −128..127 are
 * rejected (upstream crashes on them); an empty object is an error; `undefined` means "no trust claims",
 * which upstream turns into all zeros.
 */
export function trustVectorFrom(partial: Record<string, unknown> | undefined): TrustVector {
  const v = Object.fromEntries(TRUST_CLAIMS.map((k) => [k, 0])) as TrustVector;
  if (partial === undefined) return v;
  const keys = Object.keys(partial);
  if (keys.length === 0) throw new EarError('TRUST_VECTOR_INVALID', 'the policy set no trust claim');
  for (const k of keys) {
    if (!CLAIM_SET.has(k)) {
      throw new EarError(
        'TRUST_VECTOR_INVALID',
        `unknown trust claim ${JSON.stringify(k)} (allowed: ${TRUST_CLAIMS.join(', ')})`,
      );
    }
    const raw = partial[k];
    const n = typeof raw === 'bigint' ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < -128 || n > 127) {
      throw new EarError('TRUST_VECTOR_INVALID', `trust claim ${k} must be an integer in -128..127`);
    }
    v[k as TrustClaim] = n;
  }
  return v;
}
