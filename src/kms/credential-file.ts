import { readFile } from 'node:fs/promises';
import { KmsError } from './errors.js';

/**
 * Reads a provider's credential file (a key, a PIN, a JSON credential): a missing file is
 * CREDENTIAL_MISSING, any other read failure KMS_FAILED naming the errno. `what` names the file in
 * messages ("credential file", "PIN file"); the content (a secret) never appears in one.
 */
export async function readCredentialFile(path: string, what: string, provider: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT')
      throw new KmsError('CREDENTIAL_MISSING', `${what} ${path} does not exist`, { provider, cause: e });
    throw new KmsError('KMS_FAILED', `cannot read ${what} ${path} (${code ?? 'error'})`, {
      provider,
      cause: e,
    });
  }
}
