import { Command } from 'commander';
import { loadConfigFile } from '../kbs/config/config.js';
import { initKbs } from '../kbs/init/init.js';
import { startKbs } from '../kbs/server.js';
import { prepareProgram, runProgram, UsageError } from './run.js';

/*
 * `kbs`: the Key Broker Service. `kbs -c FILE` (or env KBS_CONFIG_FILE) serves until SIGINT/SIGTERM
 * and prints one readiness line on stdout: `kbs listening on <url>`. `kbs init --dir DIR` writes a
 * working TLS configuration, keys and an admin token.
 */

async function serve(file: string): Promise<void> {
  const config = loadConfigFile(file);
  const kbs = await startKbs(config);
  process.stdout.write(`kbs listening on ${kbs.urls.join(' ')}\n`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      process.stderr.write(`kbs: ${sig}, shutting down\n`);
      kbs.close().then(resolve, resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

export async function main(argv: string[]): Promise<void> {
  const program = prepareProgram(new Command('kbs'))
    .description('Key Broker Service (Confidential Containers, Trustee-compatible)')
    .option('-c, --config-file <file>', 'configuration file (TOML, or .yaml/.json); env KBS_CONFIG_FILE')
    .action(async (opts: { configFile?: string }) => {
      const file = opts.configFile ?? process.env.KBS_CONFIG_FILE;
      if (!file)
        throw new UsageError('a configuration file is required: kbs -c FILE (or run `kbs init --dir DIR`)');
      await serve(file);
    });
  program
    .command('init')
    .description('write a working configuration, TLS certificate, token-signer key and admin credentials')
    .requiredOption('--dir <dir>', 'output directory')
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'listen port', '8080')
    .option('--force', 'overwrite existing files')
    .action((opts: { dir: string; host: string; port: string; force?: boolean }) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new UsageError('--port must be 0..65535');
      const r = initKbs({ dir: opts.dir, host: opts.host, port, force: opts.force });
      process.stdout.write(`kbs init: wrote ${r.files.join(', ')}\n${r.nextSteps}\n`);
    });
  program
    .command('check-config')
    .description('validate a configuration file and exit')
    .argument('<file>')
    .action((file: string) => {
      loadConfigFile(file);
      process.stdout.write(`kbs: ${file} is valid\n`);
    });
  await runProgram(program, argv);
}
