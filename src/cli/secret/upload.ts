import { readFile } from 'node:fs/promises';
import { KbsAdminClient } from '../../kbs-client/admin.js';
import { parseResourceUri } from '../../sealed/resource-uri.js';
import { UsageError } from '../run.js';

export interface UploadRequest {
  resourceUri: string;
  provider: string;
  from: string;
  kbsUrl: string;
  adminTokenFile: string;
  certFile?: string;
}

/**
 * `secret seal vault … --upload-from FILE`: stores the value in the KBS at the resource the sealed
 * secret names, through the admin API, so sealing and provisioning happen in one step.
 */
export async function uploadVaultResource(r: UploadRequest): Promise<void> {
  if (r.provider.toLowerCase() !== 'kbs')
    throw new UsageError('--upload-from works with --provider kbs only');
  const uri = parseResourceUri(r.resourceUri);
  if (uri.plugin !== 'resource')
    throw new UsageError('--upload-from needs a kbs:///repo/type/tag resource URI');
  const read = (p: string, what: string) =>
    readFile(p).catch(() => {
      throw new UsageError(`cannot read ${what} ${p}`);
    });
  const bytes = await read(r.from, '--upload-from');
  const token = await read(r.adminTokenFile, '--admin-token-file');
  const cert = r.certFile ? await read(r.certFile, '--cert-file') : undefined;
  const admin = new KbsAdminClient({
    url: r.kbsUrl,
    adminToken: token.toString('utf8'),
    extraRootCertsPem: cert?.toString('utf8'),
  });
  await admin.setResource(uri.path, bytes);
}
