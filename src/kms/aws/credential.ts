import { readCredentialFile } from '../credential-file.js';
import { KmsError } from '../errors.js';

/** `credential.json` (sealed-secret.md §6.3): static keys only, no ambient credential discovery. */
export interface AwsCredential {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export const AWS_PROVIDER = 'aws';

export function awsFailed(message: string, cause?: unknown): KmsError {
  return new KmsError('KMS_FAILED', message, { provider: AWS_PROVIDER, cause });
}

export async function readAwsCredential(path: string): Promise<AwsCredential> {
  const text = await readCredentialFile(path, 'credential file', AWS_PROVIDER);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    // No cause: the parser's message may quote the file, i.e. the secret key.
    throw awsFailed(`credential file ${path} is not valid JSON`);
  }
  const o = (doc ?? {}) as Record<string, unknown>;
  const str = (k: string) =>
    typeof o[k] === 'string' && (o[k] as string).length > 0 ? (o[k] as string) : undefined;
  const accessKeyId = str('access_key_id');
  const secretAccessKey = str('secret_access_key');
  if (typeof doc !== 'object' || doc === null || !accessKeyId || !secretAccessKey) {
    throw awsFailed(`credential file ${path} needs string members access_key_id and secret_access_key`);
  }
  if (o.session_token !== undefined && o.session_token !== null && typeof o.session_token !== 'string') {
    throw awsFailed(`credential file ${path}: session_token must be a string`);
  }
  const sessionToken = str('session_token');
  return sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
}
