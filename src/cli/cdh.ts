import { existsSync, readFileSync, statSync } from 'node:fs';
import { Command } from 'commander';
import { type CdhConfig, DEFAULT_SOCKET, loadCdhConfig } from '../cdh/config.js';
import { provisionCredentials } from '../cdh/credentials.js';
import { cdhExec } from '../cdh/delivery/exec.js';
import { watchDirectory } from '../cdh/delivery/watch.js';
import type { Unsealer } from '../cdh/hub.js';
import { createHub } from '../cdh/runtime.js';
import { startCdhServer } from '../cdh/server.js';
import { SocketUnsealer } from '../cdh/socket-unsealer.js';
import { createLogger, type Logger, parseLogLevel } from '../kbs/http/log.js';
import { parseUnixAddress } from '../ttrpc/socket.js';
import { prepareProgram, runProgram, UsageError } from './run.js';

/*
 * `cdh`: the Confidential Data Hub daemon (`cdh [-c cdh.toml]`), its client subcommands (like
 * upstream's ttrpc-cdh-tool) and the kata-less delivery commands `exec` and `watch`.
 */

interface GlobalOpts {
  config?: string;
  socket?: string;
}

function logger(cfg?: CdhConfig): Logger {
  return createLogger(parseLogLevel(cfg?.logLevel === 'trace' ? 'debug' : cfg?.logLevel));
}

function hubLog(log: Logger) {
  return { warn: (m: string) => log.log('warn', m) };
}

function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

/**
 * Where unsealing happens for exec/watch: an explicit `--socket`, else in-process when `-c` is given,
 * else the default daemon socket when a daemon is running, else in-process with defaults.
 */
async function unsealerFor(
  g: GlobalOpts,
  log: Logger,
): Promise<{ unsealer: Unsealer; close(): Promise<void> }> {
  const viaSocket = (path: string) => {
    const u = new SocketUnsealer(path);
    return { unsealer: u, close: () => u.close() };
  };
  if (g.socket) return viaSocket(parseUnixAddress(g.socket));
  const defaultPath = parseUnixAddress(DEFAULT_SOCKET);
  if (!g.config && isSocket(defaultPath)) return viaSocket(defaultPath);
  const cfg = loadCdhConfig({ file: g.config, warn: (m) => log.log('warn', m) });
  const hub = await createHub(cfg, hubLog(log));
  return { unsealer: hub, close: async () => {} };
}

async function runDaemon(g: GlobalOpts): Promise<void> {
  const boot = createLogger('info');
  const cfg = loadCdhConfig({ file: g.config, warn: (m) => boot.log('warn', m) });
  const log = logger(cfg);
  if (cfg.skipSealedSecretVerification)
    log.log('warn', 'skip_sealed_secret_verification = true: sealed secrets are NOT verified');
  const hub = await createHub(cfg, hubLog(log));
  const provisioned = await provisionCredentials(cfg.credentials, cfg.baseDir, hub.resources);
  const socketPath = parseUnixAddress(g.socket ?? cfg.socket);
  const server = await startCdhServer(socketPath, hub, {
    info: (m, f) => log.log('info', m, f),
    warn: (m, f) => log.log('warn', m, f),
  });
  log.log('info', 'cdh ready', { socket: socketPath, kbc: cfg.kbc.name, credentials: provisioned });
  log.flush();
  process.stdout.write(`cdh listening on unix://${socketPath}\n`);
  await new Promise<void>((resolve) => {
    for (const s of ['SIGINT', 'SIGHUP', 'SIGTERM'] as const) process.once(s, () => resolve());
  });
  await server.close();
  log.log('info', 'cdh stopped');
  log.flush();
}

function buildProgram(): Command {
  const program = prepareProgram(new Command('cdh'))
    .description('Confidential Data Hub: unseals sealed secrets inside a confidential guest')
    .version('0.1.0')
    .option(
      '-c, --config <FILE>',
      'cdh.toml (also .json/.yaml); default: env AA_KBC_PARAMS, kernel cmdline, offline_fs_kbc',
    )
    .option(
      '--socket <ADDR>',
      'unix:///path of the CDH socket (daemon: listen there; clients: connect there)',
    )
    .action(async () => runDaemon(program.opts<GlobalOpts>()));

  const clientSocket = () => parseUnixAddress(program.opts<GlobalOpts>().socket ?? DEFAULT_SOCKET);

  program
    .command('unseal-secret')
    .description('ask a running CDH to unseal the sealed string in a file; prints the plaintext')
    .requiredOption('--secret-path <FILE>', 'file holding the sealed string')
    .action(async (o: { secretPath: string }) => {
      const client = new SocketUnsealer(clientSocket());
      try {
        process.stdout.write(await client.unseal(readFileSync(o.secretPath)));
      } finally {
        await client.close();
      }
    });

  program
    .command('get-resource')
    .description('ask a running CDH for a KBS resource; prints its bytes')
    .requiredOption('--resource-path <URI>', 'resource URI, e.g. kbs:///default/key/1')
    .action(async (o: { resourcePath: string }) => {
      const client = new SocketUnsealer(clientSocket());
      try {
        process.stdout.write(await client.getResource(o.resourcePath));
      } finally {
        await client.close();
      }
    });

  program
    .command('exec')
    .description('unseal sealed env values and files, then run CMD (fail-closed)')
    .option(
      '--dir <DIR>',
      'a Secret volume directory to unseal in place (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--fail-open', 'start CMD even when a value cannot be unsealed (it then sees the sealed text)')
    .argument('<CMD...>', 'command and arguments, after --')
    .action(async (cmd: string[], o: { dir: string[]; failOpen?: boolean }) => {
      const log = createLogger('warn');
      for (const d of o.dir) if (!existsSync(d)) throw new UsageError(`--dir ${d} does not exist`);
      const { unsealer, close } = await unsealerFor(program.opts<GlobalOpts>(), log);
      let code: number;
      try {
        code = await cdhExec({
          command: cmd,
          dirs: o.dir,
          failOpen: Boolean(o.failOpen),
          unsealer,
          report: (line) => process.stderr.write(`cdh exec: ${line}\n`),
        });
      } finally {
        await close();
        log.flush();
      }
      process.exitCode = code;
    });

  program
    .command('watch')
    .description('keep a Secret volume unsealed: re-unseal whenever the kubelet publishes an update')
    .requiredOption('--dir <DIR>', 'the Secret volume directory')
    .action(async (o: { dir: string }) => {
      const log = createLogger('info');
      if (!existsSync(o.dir)) throw new UsageError(`--dir ${o.dir} does not exist`);
      const { unsealer, close } = await unsealerFor(program.opts<GlobalOpts>(), log);
      const ac = new AbortController();
      for (const s of ['SIGINT', 'SIGHUP', 'SIGTERM'] as const) process.once(s, () => ac.abort());
      await watchDirectory({
        dir: o.dir,
        unsealer,
        signal: ac.signal,
        onPass: (outcomes) => {
          for (const f of outcomes)
            log.log(f.status === 'error' ? 'warn' : 'info', f.status, { file: f.entry, error: f.error });
          log.log('info', 'pass complete', { dir: o.dir, files: outcomes.length });
          log.flush();
        },
        onError: (e) => log.log('warn', 'watch error', { error: (e as Error).message }),
      });
      await close();
      log.flush();
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  await runProgram(buildProgram(), argv);
}
