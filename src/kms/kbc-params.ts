import { KmsError } from './errors.js';
import { OfflineFsResourceGetter } from './offline-fs.js';
import type { ResourceGetter } from './resource-getter.js';

/*
 * `AA_KBC_PARAMS` / `--aa-kbc-params`: `<kbc>::<url>` (sealed-secret.md §6.1). `offline_fs_kbc::null`
 * reads local files; `cc_kbc::http(s)://kbs:8080` attests to a KBS (the factory for it is registered by
 * the KBS client module so that this module stays free of HTTP code).
 */

export interface KbcParams {
  kbc: string;
  url: string;
}

export function parseKbcParams(text: string): KbcParams {
  const i = text.indexOf('::');
  if (i <= 0)
    throw new KmsError(
      'KMS_FAILED',
      `aa_kbc_params must look like <kbc>::<url>, got ${JSON.stringify(text)}`,
    );
  return { kbc: text.slice(0, i), url: text.slice(i + 2) };
}

export interface CcKbcOptions {
  url: string;
  /** Extra trusted root certificate (PEM), upstream `KBS_CERT`. */
  certPem?: string;
}

type CcKbcFactory = (opts: CcKbcOptions) => ResourceGetter;
let ccKbcFactory: CcKbcFactory | undefined;

export function registerCcKbc(factory: CcKbcFactory): void {
  ccKbcFactory = factory;
}

export function resourceGetterFromKbcParams(
  text: string,
  opts: { certPem?: string; warn?: (m: string) => void } = {},
): ResourceGetter {
  const { kbc, url } = parseKbcParams(text);
  if (kbc === 'offline_fs_kbc') return new OfflineFsResourceGetter({ warn: opts.warn });
  if (kbc === 'cc_kbc') {
    if (!ccKbcFactory) throw new KmsError('KMS_FAILED', 'cc_kbc is not available in this build');
    return ccKbcFactory({ url, certPem: opts.certPem });
  }
  throw new KmsError('KMS_FAILED', `unknown kbc name ${kbc}, only support \`cc_kbc\` and \`offline_fs_kbc\``);
}
