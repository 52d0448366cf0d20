import type { Attester } from '../types.js';
import { SampleAttester, SampleDeviceAttester } from './sample.js';

/*
 * What a guest attests with: one primary attester plus any additional (device) attesters, whose
 * evidence travels as the `additional_evidence` map (kbs-protocol.md §4, §5.2).
 */

export interface EvidenceSource {
  readonly primary: Attester;
  readonly additional: readonly Attester[];
}

export interface SelectAttestersOptions {
  /** Environment to read `ENABLE_SAMPLE_DEVICE` from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Force the sampledevice attester on or off, overriding the environment. */
  sampleDevice?: boolean;
  /** Called with a warning when falling back to the sample TEE. */
  warn?: (message: string) => void;
}

/**
 * The attesters for this machine. No hardware attester is built into this package yet, so the
 * guest falls back to `sample` with a warning, as upstream does when no TEE is detected.
 * `ENABLE_SAMPLE_DEVICE` (any value) adds `sampledevice` (cdh.md §7.6).
 */
export function selectAttesters(options: SelectAttestersOptions = {}): EvidenceSource {
  const env = options.env ?? process.env;
  options.warn?.('no TEE detected: using the sample attester (its evidence proves nothing)');
  const device = options.sampleDevice ?? env.ENABLE_SAMPLE_DEVICE !== undefined;
  return { primary: new SampleAttester(), additional: device ? [new SampleDeviceAttester()] : [] };
}
