import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { checkEndpoint, EhsmClient } from '../../kms/ehsm/client.js';
import { EhsmProvider, readEhsmCredential } from '../../kms/ehsm/provider.js';
import { KmsError } from '../../kms/errors.js';
import { UsageError } from '../run.js';
import type { EnvelopeSealCommand } from './types.js';

/**
 * `secret seal … envelope --key-id ID --file-path F ehsm -c CREDENTIAL_FILE -e ENDPOINT [--cert-path CA]`
 * (upstream flags; `--cert-path` is ours: the CA of the endpoint, where upstream skips TLS verification).
 */
export const ehsmSealCommand: EnvelopeSealCommand = {
  name: 'ehsm',
  description: 'wrap the data key with an Intel eHSM-KMS under --key-id',
  configure(cmd: Command) {
    cmd
      .requiredOption('-c, --credential-file-path <FILE>', 'JSON {"AppId","ApiKey"}')
      .requiredOption('-e, --endpoint <URL>', 'eHSM-KMS base URL, e.g. https://ehsm.example:9000')
      .option('--cert-path <FILE>', 'CA certificate (PEM) of the endpoint; default: the system roots');
  },
  async create(opts) {
    const endpoint = String(opts.endpoint);
    try {
      checkEndpoint(endpoint);
    } catch (e) {
      throw new UsageError(`--endpoint: ${(e as Error).message}`);
    }
    const cred = await readEhsmCredential(String(opts.credentialFilePath)).catch((e: unknown) => {
      throw e instanceof KmsError ? new UsageError(`--credential-file-path: ${e.message}`) : e;
    });
    let ca: string | undefined;
    if (opts.certPath !== undefined) {
      ca = await readFile(String(opts.certPath), 'utf8').catch(() => {
        throw new UsageError(`cannot read --cert-path ${String(opts.certPath)}`);
      });
    }
    const client = new EhsmClient(cred.appId, cred.apiKey, endpoint, ca);
    return {
      provider: new EhsmProvider(async () => client),
      payloadProvider: 'ehsm',
      settings: { app_id: cred.appId, endpoint },
    };
  },
};
