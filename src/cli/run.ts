import { type Command, CommanderError } from 'commander';
import { CocosealError, describeError } from '../common/errors.js';

/*
 * Shared CLI plumbing. Exit codes: 0 success, 2 usage error, 1 failure with one line naming the
 * error code (a stack trace only with --debug). Upstream's Rust tools exit 101 on failure; scripts
 * test for non-zero, which both satisfy.
 */

export class UsageError extends CocosealError<'USAGE'> {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/** Configures a program so that usage errors become exit code 2 instead of process.exit(1). */
export function prepareProgram(program: Command): Command {
  program.exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.option('--debug', 'print stack traces on failure');
  program.showHelpAfterError('(add --help for usage)');
  return program;
}

function applyRecursively(cmd: Command): void {
  cmd.exitOverride();
  for (const sub of cmd.commands) applyRecursively(sub);
}

/** Parses argv and runs the selected action, mapping every outcome to an exit code. */
export async function runProgram(program: Command, argv: string[]): Promise<void> {
  applyRecursively(program);
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version are successful exits; everything else commander reports is a usage error.
      process.exitCode =
        e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0 ? 0 : 2;
      return;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`${program.name()}: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`${program.name()}: ${describeError(e)}\n`);
    if (debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    process.exitCode = 1;
  }
}

/** Parses a JSON object option (`--provider-settings`, `--annotations`). */
export function jsonObjectOption(name: string, text: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new UsageError(`${name} is not valid JSON`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new UsageError(`${name} must be a JSON object`);
  return v as Record<string, unknown>;
}
