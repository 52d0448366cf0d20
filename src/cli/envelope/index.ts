import { kbsSealCommand } from './kbs.js';
import type { EnvelopeSealCommand } from './types.js';

/** Provider subcommands of `secret seal … envelope`, in help order. */
export const envelopeSealCommands: EnvelopeSealCommand[] = [kbsSealCommand];
