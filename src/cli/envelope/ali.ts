import type { Command } from 'commander';
import { AliyunClientKeyProvider, loadClientKeyFiles } from '../../kms/aliyun/provider.js';
import { KmsError } from '../../kms/errors.js';
import { UsageError } from '../run.js';
import type { EnvelopeSealCommand } from './types.js';

/**
 * `secret seal … envelope --key-id ID --file-path F ali -p PASSWORD_FILE --cert-path CA -k KMS_INSTANCE_ID
 * --client-key-file-path CLIENT_KEY` (upstream flags). Emits provider `aliyun` with client_type client_key.
 */
export const aliSealCommand: EnvelopeSealCommand = {
  name: 'ali',
  description: 'wrap the data key with an Alibaba Cloud KMS instance (client key access)',
  configure(cmd: Command) {
    cmd
      .requiredOption('-p, --password-file-path <FILE>', 'password of the client key (raw text)')
      .requiredOption('--cert-path <FILE>', 'CA certificate of the KMS instance (PEM)')
      .requiredOption('-k, --kms-instance-id <ID>', 'KMS instance id (kst-...)')
      .requiredOption('--client-key-file-path <FILE>', 'client key file {"KeyId","PrivateKeyData"}');
  },
  async create(opts) {
    const kmsInstanceId = String(opts.kmsInstanceId);
    if (!/^[A-Za-z0-9._*-]{1,128}$/.test(kmsInstanceId))
      throw new UsageError('--kms-instance-id is not a valid id');
    const loaded = await loadClientKeyFiles({
      clientKey: String(opts.clientKeyFilePath),
      password: String(opts.passwordFilePath),
      ca: String(opts.certPath),
    }).catch((e: unknown) => {
      throw e instanceof KmsError ? new UsageError(e.message) : e;
    });
    return {
      provider: new AliyunClientKeyProvider(kmsInstanceId, async () => loaded),
      payloadProvider: 'aliyun',
      settings: {
        client_key_id: loaded.key.keyId,
        kms_instance_id: kmsInstanceId,
        client_type: 'client_key',
      },
    };
  },
};
