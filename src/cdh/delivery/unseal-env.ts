import { describeError } from '../../common/errors.js';
import type { Unsealer } from '../hub.js';

export interface EnvOutcome {
  name: string;
  status: 'unsealed' | 'error';
  error?: string;
}

/**
 * Unseals every environment value that starts with `sealed.` (cdh.md §8.3). Returns the new
 * environment and one outcome per sealed variable; values that fail stay as they were, and the
 * caller decides (fail-closed by default in `cdh exec`).
 */
export async function unsealEnvironment(
  env: NodeJS.ProcessEnv,
  unsealer: Unsealer,
): Promise<{ env: NodeJS.ProcessEnv; outcomes: EnvOutcome[] }> {
  const out: NodeJS.ProcessEnv = { ...env };
  const outcomes: EnvOutcome[] = [];
  const names = Object.keys(env)
    .filter((k) => env[k]?.startsWith('sealed.'))
    .sort();
  await Promise.all(
    names.map(async (name) => {
      try {
        const plaintext = await unsealer.unseal(Buffer.from(env[name] as string, 'utf8'));
        const text = new TextDecoder('utf-8', { fatal: true }).decode(plaintext);
        if (text.includes('\0'))
          throw new Error('the plaintext contains a NUL byte and cannot be an environment value');
        out[name] = text;
        outcomes.push({ name, status: 'unsealed' });
      } catch (e) {
        const why =
          e instanceof TypeError
            ? 'BAD_FORMAT: the plaintext is not UTF-8 and cannot be an environment value'
            : describeError(e);
        outcomes.push({ name, status: 'error', error: why });
      }
    }),
  );
  outcomes.sort((a, b) => a.name.localeCompare(b.name));
  return { env: out, outcomes };
}
