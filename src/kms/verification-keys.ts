import { readFile, realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { CocosealError } from '../common/errors.js';
import { SealedSecretError } from '../sealed/errors.js';
import { isResourceUri } from '../sealed/resource-uri.js';
import type { VerificationKeyResolver } from '../sealed/sealed-secret.js';
import type { ResourceGetter } from './resource-getter.js';

/** Upstream's local verification-key directory (sealed-secret.md §4). */
export const SEALED_SECRET_KEY_DIR = '/run/confidential-containers/cdh/sealed-secret';

export interface KidResolverOptions {
  /** Directory of local verification keys; default SEALED_SECRET_KEY_DIR. */
  keyDir?: string;
  /** Fetches `kid`s that are KBS resource URIs. */
  resources?: ResourceGetter;
}

/**
 * Resolves a sealed secret's `kid` (sealed-secret.md §4): a KBS resource URI is fetched through the
 * resource getter; anything else names a file under the key directory. Absolute kids, `..` and
 * symlinks that leave the directory are rejected.
 */
export class KidResolver implements VerificationKeyResolver {
  readonly keyDir: string;
  private readonly resources: ResourceGetter | undefined;

  constructor(opts: KidResolverOptions = {}) {
    this.keyDir = opts.keyDir ?? SEALED_SECRET_KEY_DIR;
    this.resources = opts.resources;
  }

  async resolve(kid: string): Promise<Uint8Array> {
    if (isResourceUri(kid)) {
      if (!this.resources) {
        throw new SealedSecretError(
          'KID_UNKNOWN',
          `kid ${JSON.stringify(kid)} is a KBS resource but no KBS is configured`,
        );
      }
      try {
        return await this.resources.get(kid);
      } catch (e) {
        if (e instanceof CocosealError && e.code === 'RESOURCE_NOT_FOUND') {
          throw new SealedSecretError(
            'KID_UNKNOWN',
            `verification key ${JSON.stringify(kid)} not found: ${e.message}`,
            { cause: e },
          );
        }
        // Keep the KBS/KMS code (KBS_UNREACHABLE, POLICY_DENIED, …): callers tell failures apart by it.
        if (e instanceof CocosealError) throw e;
        throw new SealedSecretError('KID_UNKNOWN', `cannot fetch verification key ${JSON.stringify(kid)}`, {
          cause: e,
        });
      }
    }
    let base: string;
    try {
      base = await realpath(this.keyDir);
    } catch {
      throw new SealedSecretError(
        'KID_INVALID',
        `parse SealedSecret failed: KID is invalid. Must be a KBS URI or a credential path (key directory ${this.keyDir} is missing)`,
      );
    }
    if (isAbsolute(kid))
      throw new SealedSecretError('KID_INVALID', 'parse SealedSecret failed: Invalid KID Key Path');
    let file: string;
    try {
      file = await realpath(join(base, kid));
    } catch {
      throw new SealedSecretError(
        'KID_UNKNOWN',
        `no verification key named ${JSON.stringify(kid)} in ${this.keyDir}`,
      );
    }
    const rel = relative(base, file);
    if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      throw new SealedSecretError('KID_INVALID', 'parse SealedSecret failed: Invalid KID Key Path');
    }
    try {
      return await readFile(file);
    } catch (e) {
      throw new SealedSecretError('KID_UNKNOWN', `cannot read verification key ${JSON.stringify(kid)}`, {
        cause: e,
      });
    }
  }
}
