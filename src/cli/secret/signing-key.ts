import { readFile } from 'node:fs/promises';
import { CryptoError } from '../../crypto/errors.js';
import { type P256PrivateKey, parseP256PrivateJwk } from '../../crypto/jwk.js';
import { SealedSecretError } from '../../sealed/errors.js';
import { UsageError } from '../run.js';

export async function loadSigningKey(path: string): Promise<P256PrivateKey> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch {
    throw new UsageError(`cannot read --signing-jwk-path ${path}`);
  }
  try {
    return parseP256PrivateJwk(bytes);
  } catch (e) {
    const why = e instanceof CryptoError ? e.message : 'invalid key';
    throw new SealedSecretError('KEY_INVALID', `Signing key error: ${why} (${path})`, { cause: e });
  }
}
