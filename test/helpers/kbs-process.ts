import { readFileSync, writeFileSync } from 'node:fs';
import { get } from 'node:https';
import { join } from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { type Daemon, startDaemon } from './daemon.js';
import { runBin } from './run-bin.js';

/** A `bin/kbs` process made by `kbs init --dir DIR` (TLS, admin token, SQLite in DIR). */
export interface KbsProcess {
  dir: string;
  url: string;
  port: number;
  certPem: string;
  adminToken: string;
  daemon: Daemon;
  stop(): Promise<void>;
  /** Starts it again on the same port with the same storage. */
  restart(): Promise<void>;
  metrics(): Promise<string>;
}

/** `kbs init --dir dir --port 0`, then `kbs -c dir/kbs-config.toml`; the port is pinned for restarts. */
export async function startInitializedKbs(dir: string): Promise<KbsProcess> {
  const init = await runBin('kbs', ['init', '--dir', dir, '--port', '0']);
  if (init.code !== 0) throw new Error(`kbs init failed: ${init.stderr}`);
  const config = join(dir, 'kbs-config.toml');
  const launch = () => startDaemon('kbs', ['-c', config], { readyLine: /kbs listening on \S+/ });
  let daemon = await launch();
  const url = /kbs listening on (\S+)/.exec(daemon.ready)![1];
  const port = Number(new URL(url).port);
  const doc = parseToml(readFileSync(config, 'utf8')) as { http_server: Record<string, unknown> };
  doc.http_server.sockets = [`127.0.0.1:${port}`];
  writeFileSync(config, stringifyToml(doc), { mode: 0o600 });
  const certPem = readFileSync(join(dir, 'tls.crt'), 'utf8');
  const p: KbsProcess = {
    dir,
    url,
    port,
    certPem,
    adminToken: readFileSync(join(dir, 'admin-token'), 'utf8').trim(),
    get daemon() {
      return daemon;
    },
    async stop() {
      await daemon.stop();
    },
    async restart() {
      await daemon.stop();
      daemon = await launch();
    },
    metrics() {
      return new Promise((resolve, reject) => {
        get(`${url}/metrics`, { ca: certPem }, (r) => {
          let body = '';
          r.on('data', (c) => {
            body += c;
          });
          r.on('end', () => resolve(body));
        }).on('error', reject);
      });
    },
  };
  return p;
}

/** Sum of `kbs_attestations_total` samples with the given outcome. */
export function attestationCount(metricsText: string, outcome = 'success'): number {
  let n = 0;
  for (const line of metricsText.split('\n')) {
    if (line.startsWith('kbs_attestations_total{') && line.includes(`outcome="${outcome}"`))
      n += Number(line.split(' ').at(-1));
  }
  return n;
}
