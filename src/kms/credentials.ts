import { join } from 'node:path';

/** Upstream credential root (`CDH/kms/src/plugins/mod.rs`); CDH fills it from `[[credentials]]`. */
export const KMS_CREDENTIAL_ROOT = '/run/confidential-containers/cdh/kbs/kms-credential';

/**
 * A provider's credential directory: the explicit one (`secret unseal --key-path`), else the
 * provider's environment variable (e.g. `AWS_IN_GUEST_KEY_PATH`), else `<root>/<subdir>`.
 */
export function credentialDir(explicit: string | undefined, envVar: string, subdir: string): string {
  return explicit ?? process.env[envVar] ?? join(KMS_CREDENTIAL_ROOT, subdir);
}
