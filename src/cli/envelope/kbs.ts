import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { KbsProvider } from '../../kms/kbs/provider.js';
import { UsageError } from '../run.js';
import type { EnvelopeSealCommand } from './types.js';

/** `secret seal … envelope --key-id kbs:///repo/kek/1 --file-path F kbs --kek-file KEK` (ours). */
export const kbsSealCommand: EnvelopeSealCommand = {
  name: 'kbs',
  description: 'wrap the data key with AES-256 key wrap under a 32-byte KEK that the KBS holds at --key-id',
  configure(cmd: Command) {
    cmd.requiredOption(
      '--kek-file <FILE>',
      'the 32-byte key-encryption key (the same bytes uploaded to the KBS at --key-id)',
    );
  },
  async create(opts) {
    const kek = await readFile(String(opts.kekFile)).catch(() => {
      throw new UsageError(`cannot read --kek-file ${String(opts.kekFile)}`);
    });
    if (kek.length !== 32)
      throw new UsageError(`--kek-file must hold exactly 32 bytes, it has ${kek.length}`);
    return { provider: new KbsProvider(undefined, kek), payloadProvider: 'kbs', settings: {} };
  },
};
