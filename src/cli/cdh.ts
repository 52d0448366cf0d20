import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { DEFAULT_SOCKET, loadCdhConfig } from '../cdh/config.js';
import { hubLog, type PlainDaemonArgs, plainDaemonArgs, runDaemon } from '../cdh/daemon.js';
import type { Unsealer } from '../cdh/hub.js';
import { describeError, isCocosealError } from '../common/errors.js';
import { createLogger, type Logger } from '../common/log.js';
import { parseUnixAddress } from '../ttrpc/socket.js';

/*
 * `cdh`: the Confidential Data Hub daemon (`cdh [-c cdh.toml]`), its client subcommands (like
 * upstream's ttrpc-cdh-tool) and the kata-less delivery commands `exec` and `watch`.
 *
 * The daemon is started by the kata-agent on every pod boot, so its plain invocations skip the
 * argument parser: commander and the client/delivery code are loaded only for everything else
 * (issue 4: start-to-ready time).
 */

interface GlobalOpts {
  config?: string;
  socket?: string;
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
  const viaSocket = async (path: string) => {
    const { SocketUnsealer } = await import('../cdh/socket-unsealer.js');
    const u = new SocketUnsealer(path);
    return { unsealer: u, close: () => u.close() };
  };
  if (g.socket) return viaSocket(parseUnixAddress(g.socket));
  const defaultPath = parseUnixAddress(DEFAULT_SOCKET);
  if (!g.config && isSocket(defaultPath)) return viaSocket(defaultPath);
  const cfg = loadCdhConfig({ file: g.config, warn: (m) => log.log('warn', m) });
  const { createHub } = await import('../cdh/runtime.js');
  const hub = await createHub(cfg, hubLog(log));
  return { unsealer: hub, close: async () => {} };
}

/** Same outcome mapping as `runProgram` (src/cli/run.ts) for a failure of the daemon action. */
async function runPlainDaemon(opts: PlainDaemonArgs): Promise<void> {
  try {
    await runDaemon(opts);
  } catch (e) {
    if (isCocosealError(e) && e.code === 'USAGE') {
      process.stderr.write(`cdh: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`cdh: ${describeError(e)}\n`);
    if (opts.debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    process.exitCode = 1;
  }
}

async function buildProgram(): Promise<Command> {
  const { Command } = await import('commander');
  const { prepareProgram, UsageError } = await import('./run.js');
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
      const { SocketUnsealer } = await import('../cdh/socket-unsealer.js');
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
      const { SocketUnsealer } = await import('../cdh/socket-unsealer.js');
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
        const { cdhExec } = await import('../cdh/delivery/exec.js');
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
      const { watchDirectory } = await import('../cdh/delivery/watch.js');
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
  const plain = plainDaemonArgs(argv);
  if (plain) return runPlainDaemon(plain);
  const { runProgram } = await import('./run.js');
  await runProgram(await buildProgram(), argv);
}
