import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { type Daemon, startDaemon } from './daemon.js';
import { runBin } from './run-bin.js';

/*
 * Several `bin/kbs` processes made from one `kbs init`: they share the TLS certificate, the token
 * signer (so a token issued by one is trusted by all), the admin key and token, and one storage
 * backend given by the caller. Each replica has its own config file that differs from the others
 * only in its listen socket (port 0 at first, pinned to the bound port once it is up).
 */

export interface KbsReplica {
  name: string;
  url: string;
  port: number;
  configPath: string;
  daemon: Daemon;
  stop(): Promise<void>;
}

export interface KbsReplicaSet {
  dir: string;
  certPem: string;
  adminToken: string;
  replicas: KbsReplica[];
  /** Stops every replica (SIGTERM, then SIGKILL after 10 s). */
  stop(): Promise<void>;
}

export interface KbsReplicaOptions {
  /** Replica names; one process each (default `a`, `b`, `c`). */
  names?: string[];
  /** The `[storage_backend]` table every replica uses. */
  storageBackend: Record<string, unknown>;
  /** Extra env for the processes. */
  env?: NodeJS.ProcessEnv;
}

async function stopDaemon(d: Daemon): Promise<void> {
  const kill = setTimeout(() => d.child.kill('SIGKILL'), 10_000);
  try {
    await d.stop();
  } finally {
    clearTimeout(kill);
  }
}

/** `kbs init --dir dir`, then one `kbs -c dir/kbs-<name>.toml` per name, started at the same time. */
export async function startKbsReplicas(dir: string, opts: KbsReplicaOptions): Promise<KbsReplicaSet> {
  const init = await runBin('kbs', ['init', '--dir', dir, '--port', '0']);
  if (init.code !== 0) throw new Error(`kbs init failed: ${init.stderr}`);
  const base = parseToml(readFileSync(join(dir, 'kbs-config.toml'), 'utf8')) as Record<string, unknown>;
  base.storage_backend = opts.storageBackend;
  const writeConfig = (path: string, socket: string) => {
    const doc = { ...base, http_server: { ...(base.http_server as object), sockets: [socket] } };
    writeFileSync(path, stringifyToml(doc), { mode: 0o600 });
  };
  const names = opts.names ?? ['a', 'b', 'c'];
  const started = await Promise.allSettled(
    names.map(async (name) => {
      const configPath = join(dir, `kbs-${name}.toml`);
      writeConfig(configPath, '127.0.0.1:0');
      const daemon = await startDaemon('kbs', ['-c', configPath], {
        readyLine: /kbs listening on \S+/,
        env: opts.env,
      });
      const url = /kbs listening on (\S+)/.exec(daemon.ready)![1];
      const port = Number(new URL(url).port);
      writeConfig(configPath, `127.0.0.1:${port}`);
      const r: KbsReplica = { name, url, port, configPath, daemon, stop: () => stopDaemon(daemon) };
      return r;
    }),
  );
  const replicas = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await Promise.all(replicas.map((r) => r.stop()));
    throw (failed as PromiseRejectedResult).reason;
  }
  return {
    dir,
    certPem: readFileSync(join(dir, 'tls.crt'), 'utf8'),
    adminToken: readFileSync(join(dir, 'admin-token'), 'utf8').trim(),
    replicas,
    async stop() {
      await Promise.all(replicas.map((r) => r.stop()));
    },
  };
}

/** The `[storage_backend]` table for PostgreSQL at `url`, in `schema`, with a small pool per replica. */
export function postgresBackend(url: string, schema: string, poolSize = 4): Record<string, unknown> {
  return {
    storage_type: 'Postgres',
    backends: { postgres: { url, schema, pool_size: poolSize } },
  };
}

/** The `[storage_backend]` table for SQLite at `path`. */
export function sqliteBackend(path: string): Record<string, unknown> {
  return { storage_type: 'Sqlite', backends: { sqlite: { path } } };
}
