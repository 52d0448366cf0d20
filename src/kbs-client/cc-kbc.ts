import { registerCcKbc } from '../kms/kbc-params.js';
import { KbsResourceGetter } from './resource-getter.js';

/*
 * Plugs the KBS client into `--aa-kbc-params cc_kbc::<url>` (src/kms/kbc-params.ts keeps HTTP code
 * out of the KMS layer, so the client registers itself). Call once at program start.
 */
export function registerCcKbcClient(): void {
  registerCcKbc((opts) => new KbsResourceGetter({ url: opts.url, extraRootCertsPem: opts.certPem }));
}
