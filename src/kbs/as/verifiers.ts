import { AttestationError } from '../../attestation/errors.js';
import { SampleDeviceVerifier, SampleVerifier } from '../../attestation/sample/verifier.js';
import { SnpVerifier } from '../../attestation/snp/index.js';
import { TdxVerifier, type TdxVerifierOptions } from '../../attestation/tdx/index.js';
import type { Verifier } from '../../attestation/types.js';
import type { VerifierConfig } from '../config/config.js';

/*
 * Verifier registry keyed by TEE wire name: sample and sampledevice built in, SNP and TDX added by
 * `loadHardwareVerifiers`, anything else through `register`.
 */

/** Every TEE name the protocol accepts in `/auth` (kbs-protocol.md §3.1). */
export const TEE_NAMES = new Set([
  'az-snp-vtpm',
  'az-tdx-vtpm',
  'nvidia',
  'sgx',
  'snp',
  'tdx',
  'cca',
  'csv',
  'se',
  'hygondcu',
  'tpm',
  'sample',
  'sampledevice',
]);

const GPU = new Set(['sampledevice', 'nvidia', 'hygondcu']);

/** EAR submodule class: `cpu` for confidential VMs, `gpu` for devices. */
export function teeClass(tee: string): 'cpu' | 'gpu' {
  return GPU.has(tee) ? 'gpu' : 'cpu';
}

export class VerifierRegistry {
  readonly #map = new Map<string, Verifier>();

  constructor(verifiers: Verifier[] = [new SampleVerifier(), new SampleDeviceVerifier()]) {
    for (const v of verifiers) this.register(v);
  }

  register(v: Verifier): void {
    this.#map.set(v.tee, v);
  }

  has(tee: string): boolean {
    return this.#map.has(tee);
  }

  tees(): string[] {
    return [...this.#map.keys()].sort();
  }

  get(tee: string): Verifier {
    const v = this.#map.get(tee);
    if (!v)
      throw new AttestationError(
        'TEE_UNSUPPORTED',
        `no verifier for TEE ${JSON.stringify(tee)} (available: ${this.tees().join(', ')})`,
      );
    return v;
  }
}

/**
 * Registers the SNP and TDX verifiers with their `[attestation_service.verifier_config]` options.
 * SNP checks its AMD roots at startup: when unconfigured and the roots are unusable it is skipped with
 * a warning; when explicitly configured, the failure stops startup.
 */
export async function loadHardwareVerifiers(
  reg: VerifierRegistry,
  cfg: VerifierConfig = {},
  warn: (msg: string) => void = () => {},
): Promise<string[]> {
  const added: string[] = [];
  const snp = new SnpVerifier(cfg.snp ?? {});
  try {
    await snp.ready();
    reg.register(snp);
    added.push('snp');
  } catch (e) {
    if (cfg.snp) throw e;
    warn(`SNP verifier disabled: ${(e as Error).message}`);
  }
  reg.register(
    new TdxVerifier({
      ...cfg.tdx,
      acceptedTcbStatuses: cfg.tdx?.acceptedTcbStatuses as TdxVerifierOptions['acceptedTcbStatuses'],
    }),
  );
  added.push('tdx');
  return added;
}
