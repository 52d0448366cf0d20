import { CocosealError } from '../../common/errors.js';

export interface UploadRequest {
  resourceUri: string;
  provider: string;
  from: string;
  kbsUrl: string;
  adminTokenFile: string;
  certFile?: string;
}

/** Uploads the plaintext of a vault secret to the KBS through the admin API. */
export async function uploadVaultResource(_r: UploadRequest): Promise<void> {
  throw new CocosealError('UNAVAILABLE', 'upload is not wired yet');
}
