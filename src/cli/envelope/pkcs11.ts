import { isAbsolute } from 'node:path';
import { type Command, Option } from 'commander';
import { KmsError } from '../../kms/errors.js';
import { Pkcs11Provider } from '../../kms/pkcs11/provider.js';
import {
  checkTokenLabel,
  DEFAULT_MECHANISM,
  isMechanism,
  MECHANISMS,
  type Pkcs11Settings,
  readPinFile,
} from '../../kms/pkcs11/settings.js';
import { UsageError } from '../run.js';
import type { EnvelopeSealCommand } from './types.js';

/**
 * `secret seal … envelope --key-id LABEL --file-path F pkcs11 --module M --token-label T --key-label LABEL
 * --pin-file P [--mechanism CKM_AES_KEY_WRAP_PAD|CKM_AES_KEY_WRAP|CKM_AES_GCM]` (ours).
 */
export const pkcs11SealCommand: EnvelopeSealCommand = {
  name: 'pkcs11',
  description: 'wrap the data key inside a PKCS#11 token with an AES key that never leaves it',
  configure(cmd: Command) {
    cmd
      .requiredOption('-m, --module <PATH>', 'absolute path of the PKCS#11 module (shared library)')
      .requiredOption('-t, --token-label <LABEL>', 'label of the token holding the key')
      .requiredOption('-l, --key-label <LABEL>', 'label of the AES key-encryption key (must equal --key-id)')
      .requiredOption('--pin-file <FILE>', 'file holding the user PIN (raw text)')
      .addOption(
        new Option('--mechanism <MECHANISM>', 'how the token wraps the data key')
          .choices([...MECHANISMS])
          .default(DEFAULT_MECHANISM),
      );
  },
  async create(opts) {
    const settings: Pkcs11Settings = {
      module: String(opts.module),
      token_label: String(opts.tokenLabel),
      key_label: String(opts.keyLabel),
    };
    if (!isAbsolute(settings.module)) throw new UsageError('--module must be an absolute path');
    try {
      checkTokenLabel(settings.token_label);
    } catch (e) {
      throw new UsageError(`--token-label: ${(e as Error).message}`);
    }
    const mechanism = opts.mechanism ?? DEFAULT_MECHANISM;
    if (!isMechanism(mechanism)) throw new UsageError(`--mechanism must be one of ${MECHANISMS.join(', ')}`);
    const pinFile = String(opts.pinFile);
    const pin = await readPinFile(pinFile).catch((e: unknown) => {
      throw e instanceof KmsError ? new UsageError(`--pin-file: ${e.message}`) : e;
    });
    return {
      provider: new Pkcs11Provider(settings, async () => pin, mechanism),
      payloadProvider: 'pkcs11',
      settings: { ...settings },
    };
  },
};
