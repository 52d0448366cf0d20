import { aliSealCommand } from './ali.js';
import { awsSealCommand } from './aws.js';
import { ehsmSealCommand } from './ehsm.js';
import { kbsSealCommand } from './kbs.js';
import { pkcs11SealCommand } from './pkcs11.js';
import type { EnvelopeSealCommand } from './types.js';

/** Provider subcommands of `secret seal … envelope`, in help order (upstream's first). */
export const envelopeSealCommands: EnvelopeSealCommand[] = [
  aliSealCommand,
  awsSealCommand,
  ehsmSealCommand,
  kbsSealCommand,
  pkcs11SealCommand,
];
