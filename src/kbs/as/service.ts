import { createHash } from 'node:crypto';
import { EAR_PROFILE, type EarSigner, type EarSubmod, earClaims } from '../../attestation/ear/token.js';
import type { Claims } from '../../attestation/types.js';
import { canonicalize } from '../../crypto/jcs.js';
import type { TeePublicJwk } from '../../crypto/jwe.js';
import type { TokenBrokerConfig } from '../config/config.js';
import {
  AttestationPolicyError,
  type AttestationPolicyStore,
  appraise,
} from '../policy/attestation-policy.js';
import { toCel } from '../policy/cel.js';
import {
  bindingHash,
  deviceRuntimeData,
  primaryRuntimeData,
  runtimeDataDigest,
} from '../rcar/runtime-data.js';
import { InitDataError, parseInitData } from './init-data.js';
import type { ReferenceValues } from './rvps.js';
import { TEE_NAMES, teeClass, type VerifierRegistry } from './verifiers.js';

/*
 * The built-in Attestation Service (kbs-protocol.md §4, §5, §8): verifies the primary and each
 * additional piece of evidence against its runtime-data binding, builds the annotated evidence,
 * appraises each with `<policy id>_<tee class>` and issues an EAR token.
 */

export class AttestationFailure extends Error {}

export interface AttestRequest {
  tee: string;
  nonce: string;
  teePubkey: TeePublicJwk;
  teeEvidence: unknown;
  initData?: unknown;
  now?: Date;
}

export interface AttestResult {
  token: string;
  claims: Record<string, unknown>;
  /** `sha256:<hex>` of the canonical tee-evidence (for the audit log). */
  evidenceDigest: string;
  status: string;
}

interface Piece {
  tee: string;
  claims: Claims;
  runtimeData: Record<string, unknown>;
  initDataClaims?: Record<string, unknown>;
}

/** Lifts report_data/init_data to the top level and nests the rest under the TEE name (§8.1). */
function annotate(p: Piece): Record<string, unknown> {
  const { report_data, init_data, ...rest } = p.claims;
  const out: Record<string, unknown> = { [p.tee]: rest };
  if (report_data !== undefined) out.report_data = report_data;
  if (init_data !== undefined) out.init_data = init_data;
  out.runtime_data_claims = p.runtimeData;
  if (p.initDataClaims) out.init_data_claims = p.initDataClaims;
  return out;
}

export class AttestationService {
  constructor(
    private readonly verifiers: VerifierRegistry,
    private readonly policies: AttestationPolicyStore,
    private readonly rvps: ReferenceValues,
    private readonly signer: EarSigner,
    private readonly broker: TokenBrokerConfig,
    private readonly clock: () => number = Date.now,
  ) {}

  supports(tee: string): boolean {
    return this.verifiers.has(tee);
  }

  async attest(req: AttestRequest): Promise<AttestResult> {
    const ev = req.teeEvidence;
    if (!ev || typeof ev !== 'object' || Array.isArray(ev))
      throw new AttestationFailure('tee-evidence must be an object');
    const { primary_evidence: primary, additional_evidence: additionalRaw } = ev as Record<string, unknown>;
    if (primary === undefined) throw new AttestationFailure('tee-evidence.primary_evidence is missing');
    const additional = additionalRaw ?? '';
    if (typeof additional !== 'string')
      throw new AttestationFailure('tee-evidence.additional_evidence must be a string');
    const evidenceDigest = `sha256:${createHash('sha256').update(canonicalize(ev)).digest('hex')}`;

    let initDigest: Buffer | undefined;
    let initDataClaims: Record<string, unknown> | undefined;
    if (req.initData !== undefined && req.initData !== null) {
      const i = req.initData as Record<string, unknown>;
      if (typeof i !== 'object' || Array.isArray(i))
        throw new AttestationFailure('init-data must be an object');
      if (i.format !== 'toml')
        throw new AttestationFailure(`init-data format ${JSON.stringify(i.format)} is not supported (toml)`);
      if (typeof i.body !== 'string') throw new AttestationFailure('init-data body must be a string');
      try {
        const parsed = parseInitData(i.body);
        initDigest = parsed.digest;
        initDataClaims = parsed.claims;
      } catch (e) {
        if (e instanceof InitDataError) throw new AttestationFailure(e.message);
        throw e;
      }
    }

    const hash = bindingHash(req.tee);
    const now = req.now ?? new Date(this.clock());
    const primaryRd = primaryRuntimeData(req.nonce, req.teePubkey, additional);
    const pieces: Piece[] = [];
    const primaryClaims = await this.verifiers.get(req.tee).verify(primary, {
      expectedReportData: runtimeDataDigest(primaryRd, hash),
      expectedInitDataHash: initDigest,
      now,
    });
    const runtimeData: Record<string, unknown> = { ...primaryRd };
    if (!this.broker.verboseToken) delete runtimeData['additional-evidence'];
    pieces.push({ tee: req.tee, claims: primaryClaims, runtimeData, initDataClaims });

    if (additional !== '') {
      let map: unknown;
      try {
        map = JSON.parse(additional);
      } catch {
        throw new AttestationFailure('additional_evidence is not JSON');
      }
      if (!map || typeof map !== 'object' || Array.isArray(map))
        throw new AttestationFailure('additional_evidence must map TEE names to evidence');
      const deviceRd = deviceRuntimeData(req.nonce, req.teePubkey);
      const deviceDigest = runtimeDataDigest(deviceRd, hash);
      for (const [tee, e] of Object.entries(map as Record<string, unknown>)) {
        if (!TEE_NAMES.has(tee))
          throw new AttestationFailure(`additional_evidence names an unknown TEE ${JSON.stringify(tee)}`);
        const claims = await this.verifiers.get(tee).verify(e, { expectedReportData: deviceDigest, now });
        pieces.push({ tee, claims, runtimeData: { ...deviceRd } });
      }
    }

    const policyBase = this.broker.policyIds[0];
    const submods: Record<string, EarSubmod> = {};
    const counters = { cpu: 0, gpu: 0 };
    let worst = 'none';
    for (const p of pieces) {
      const cls = teeClass(p.tee);
      const policyId = `${policyBase}_${cls}`;
      const policy = await this.policies.get(policyId);
      if (!policy) throw new AttestationFailure(`attestation policy ${policyId} is not set`);
      const annotated = annotate(p);
      const rv = await this.rvps.getMany(policy.referenceValues);
      let appraisal: ReturnType<typeof appraise>;
      try {
        appraisal = appraise(policy, toCel(annotated), p.tee, rv);
      } catch (e) {
        if (e instanceof AttestationPolicyError) throw new AttestationFailure(`${policyId}: ${e.message}`);
        throw e;
      }
      const name = `${cls}${counters[cls]++}`;
      submods[name] = {
        'ear.status': appraisal.status,
        'ear.trustworthiness-vector': appraisal.trustVector,
        'ear.appraisal-policy-id': policyBase,
        'ear.veraison.annotated-evidence': annotated,
        ...appraisal.extensions,
      };
      worst =
        ['none', 'affirming', 'warning', 'contraindicated'].indexOf(appraisal.status) >
        ['none', 'affirming', 'warning', 'contraindicated'].indexOf(worst)
          ? appraisal.status
          : worst;
    }
    const claims = earClaims({
      profile: this.broker.profileName || EAR_PROFILE,
      developer: this.broker.developerName,
      build: this.broker.buildName,
      issuer: this.broker.issuerName,
      submods,
      iat: Math.floor(now.getTime() / 1000),
      durationMin: this.broker.durationMin,
    });
    return { token: this.signer.sign(claims), claims, evidenceDigest, status: worst };
  }
}
