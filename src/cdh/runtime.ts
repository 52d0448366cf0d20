import type { EvidenceSource } from '../attestation/attesters/evidence-source.js';
import { selectAttesters } from '../attestation/attesters/evidence-source.js';
import { OfflineFsResourceGetter } from '../kms/offline-fs.js';
import type { ResourceGetter } from '../kms/resource-getter.js';
import type { CdhConfig } from './config.js';
import { DeferredKbsResourceGetter } from './deferred-kbs.js';
import { CdhError } from './errors.js';
import { ConfidentialDataHub, type HubLogger } from './hub.js';

/*
 * Builds the hub's outside world from the config: the attester (configfs-tsm when present, else the
 * sample TEE with a logged warning), and one long-lived KBS client for every call (built on the
 * first fetch; its configuration is checked here).
 */

export async function selectEvidence(
  cfg: CdhConfig,
  log: HubLogger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<EvidenceSource> {
  const samples = () => selectAttesters({ env, warn: (m) => log.warn(m) });
  if (cfg.attester === 'sample') return samples();
  // Loaded only when configfs-tsm may be used: the SNP/TDX report code is not needed otherwise.
  const { detectTsmAttester } = await import('../attestation/tsm/attester.js');
  const tsm = await detectTsmAttester({ base: cfg.tsmPath });
  if (tsm) return { primary: tsm, additional: samples().additional };
  if (cfg.attester === 'tsm') {
    throw new CdhError(
      'CONFIG_INVALID',
      `[attester] type = "tsm" but no usable configfs-tsm at ${cfg.tsmPath ?? '/sys/kernel/config/tsm/report'}`,
    );
  }
  log.warn('configfs-tsm not found: falling back to the sample attester');
  return samples();
}

export async function createResourceGetter(
  cfg: CdhConfig,
  log: HubLogger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ResourceGetter> {
  if (cfg.kbc.name === 'offline_fs_kbc') return new OfflineFsResourceGetter({ warn: (m) => log.warn(m) });
  const certs = [cfg.kbc.kbsCert, env.KBS_CERT].filter((c): c is string => Boolean(c));
  return new DeferredKbsResourceGetter({
    url: cfg.kbc.url,
    extraRootCertsPem: certs,
    evidence: await selectEvidence(cfg, log, env),
  });
}

export async function createHub(
  cfg: CdhConfig,
  log: HubLogger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ConfidentialDataHub> {
  return new ConfidentialDataHub(cfg, await createResourceGetter(cfg, log, env), env, log);
}
