import type { Command } from 'commander';
import type { JsonObject, KmsProvider } from '../../kms/provider.js';

/**
 * One provider subcommand of `secret seal … envelope --key-id ID --file-path F <provider> …`.
 * Upstream words: `ali`, `aws`, `ehsm`; ours: `kbs`, `pkcs11`.
 */
export interface EnvelopeSealCommand {
  /** The subcommand word. */
  name: string;
  description: string;
  /** Adds the provider's own options (upstream flag names) to the subcommand. */
  configure(cmd: Command): void;
  /**
   * Builds the sealing-side provider from the parsed options, plus what goes into the payload:
   * `provider` (e.g. `aliyun` for `ali`) and `provider_settings`.
   */
  create(
    opts: Record<string, unknown>,
  ): Promise<{ provider: KmsProvider; payloadProvider: string; settings: JsonObject }>;
}
