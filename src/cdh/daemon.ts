import { createLogger, type Logger, parseLogLevel } from '../common/log.js';
import { parseUnixAddress } from '../ttrpc/socket.js';
import { type CdhConfig, loadCdhConfig } from './config.js';
import { provisionCredentials } from './credentials.js';
import { createHub } from './runtime.js';
import { startCdhServer } from './server.js';

/*
 * The CDH daemon (cdh.md §5): config, hub, credentials, then the socket. This module is the whole
 * start path, so it imports only what serving needs: the KMS providers, signature code and KBS
 * client internals load on the first call (issue 4: start-to-ready and resident memory).
 */

export interface DaemonOptions {
  /** `-c FILE`. */
  config?: string;
  /** `--socket unix:///path`, overriding the config's. */
  socket?: string;
}

export interface PlainDaemonArgs extends DaemonOptions {
  debug: boolean;
}

/**
 * The daemon's own arguments when `argv` holds nothing else: `-c FILE`, `--config[=]FILE`,
 * `--socket[=]ADDR`, `--debug`. Anything else (a subcommand, help, an unknown or odd option) returns
 * undefined and goes to the full parser, which then decides exactly as before.
 */
export function plainDaemonArgs(argv: readonly string[]): PlainDaemonArgs | undefined {
  const out: PlainDaemonArgs = { debug: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--debug') {
      out.debug = true;
      continue;
    }
    const eq = /^--(config|socket)=(.+)$/.exec(a);
    if (eq) {
      out[eq[1] as 'config' | 'socket'] = eq[2];
      continue;
    }
    const key = a === '-c' || a === '--config' ? 'config' : a === '--socket' ? 'socket' : undefined;
    const value = argv[i + 1];
    if (!key || value === undefined || value === '' || value.startsWith('-')) return undefined;
    out[key] = value;
    i++;
  }
  return out;
}

export function cdhLogger(cfg?: CdhConfig): Logger {
  return createLogger(parseLogLevel(cfg?.logLevel === 'trace' ? 'debug' : cfg?.logLevel));
}

export function hubLog(log: Logger) {
  return { warn: (m: string) => log.log('warn', m) };
}

/** Runs until SIGINT, SIGHUP or SIGTERM. Credentials are provisioned before the socket is served. */
export async function runDaemon(opts: DaemonOptions): Promise<void> {
  const boot = createLogger('info');
  const cfg = loadCdhConfig({ file: opts.config, warn: (m) => boot.log('warn', m) });
  const log = cdhLogger(cfg);
  if (cfg.skipSealedSecretVerification)
    log.log('warn', 'skip_sealed_secret_verification = true: sealed secrets are NOT verified');
  const hub = await createHub(cfg, hubLog(log));
  const provisioned = await provisionCredentials(cfg.credentials, cfg.baseDir, hub.resources);
  const socketPath = parseUnixAddress(opts.socket ?? cfg.socket);
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
