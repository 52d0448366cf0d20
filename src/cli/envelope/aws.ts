import type { Command } from 'commander';
import { readAwsCredential } from '../../kms/aws/credential.js';
import { AwsProvider, parseAwsSettings } from '../../kms/aws/provider.js';
import { KmsError } from '../../kms/errors.js';
import { UsageError } from '../run.js';
import type { EnvelopeSealCommand } from './types.js';

/** `secret seal … envelope --key-id ID --file-path F aws -r REGION -c CREDENTIAL_FILE` (upstream flags). */
export const awsSealCommand: EnvelopeSealCommand = {
  name: 'aws',
  description: 'wrap the data key with AWS KMS Encrypt under --key-id',
  configure(cmd: Command) {
    cmd
      .requiredOption('-r, --region <REGION>', 'AWS region of the KMS key')
      .requiredOption(
        '-c, --credential-file-path <FILE>',
        'JSON {"access_key_id","secret_access_key","session_token"?} used to call KMS',
      );
  },
  async create(opts) {
    let settings: ReturnType<typeof parseAwsSettings>;
    try {
      settings = parseAwsSettings({ region: String(opts.region) });
    } catch (e) {
      throw new UsageError(`--region: ${(e as Error).message}`);
    }
    const credential = await readAwsCredential(String(opts.credentialFilePath)).catch((e: unknown) => {
      throw e instanceof KmsError ? new UsageError(`--credential-file-path: ${e.message}`) : e;
    });
    return {
      provider: new AwsProvider(settings, async () => credential),
      payloadProvider: 'aws',
      // Upstream writes only the region; the endpoint comes from the unsealing side's environment.
      settings: { region: settings.region },
    };
  },
};
