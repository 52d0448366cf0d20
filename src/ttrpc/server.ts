import { chmod, lstat, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { TtrpcError } from './errors.js';
import type { TtrpcHandler, TtrpcLogger } from './handler.js';
import { ServerConnection } from './server-connection.js';
import { clearStaleSocket, parseUnixAddress } from './socket.js';

export interface TtrpcServerOptions {
  /** Handlers running at once per connection; more requests wait, and reading pauses. Default 64. */
  maxConcurrentCallsPerConnection?: number;
  /** Simultaneous connections; more are refused by the kernel backlog/Node. Default 128. */
  maxConnections?: number;
  /** Log hook; silent by default. */
  log?: TtrpcLogger;
}

const SOCKET_MODE = 0o600;

/**
 * A ttRPC server on a unix socket (cdh.md §3). Unary calls only, which is all the CDH API uses.
 *
 * The socket is created owner-only (0600) before any connection is served: only the guest's root
 * (the kata-agent) may talk to the CDH.
 */
export class TtrpcServer {
  readonly #services = new Map<string, Map<string, TtrpcHandler>>();
  readonly #connections = new Set<ServerConnection>();
  readonly #log: TtrpcLogger;
  readonly #maxConcurrentCalls: number;
  readonly #maxConnections: number;
  #server: Server | undefined;
  #path: string | undefined;
  #socketId: { dev: number; ino: number } | undefined;
  #accepting = false;

  constructor(options: TtrpcServerOptions = {}) {
    this.#log = options.log ?? (() => {});
    this.#maxConcurrentCalls = positiveInt(
      options.maxConcurrentCallsPerConnection ?? 64,
      'maxConcurrentCalls',
    );
    this.#maxConnections = positiveInt(options.maxConnections ?? 128, 'maxConnections');
  }

  /** `service` is the full ttRPC service name (`api.SealedSecretService`), `method` the bare rpc name. */
  register(service: string, method: string, handler: TtrpcHandler): void {
    if (!service || !method)
      throw new TtrpcError('TTRPC_USAGE', 'service and method names must be non-empty');
    let methods = this.#services.get(service);
    if (!methods) {
      methods = new Map();
      this.#services.set(service, methods);
    }
    if (methods.has(method)) {
      throw new TtrpcError('TTRPC_USAGE', `a handler for ${service}/${method} is already registered`);
    }
    methods.set(method, handler);
  }

  /** The socket path while listening. */
  get socketPath(): string | undefined {
    return this.#path;
  }

  /**
   * Binds `address` (a path or `unix://path`). A stale socket file is replaced; a live server or a
   * non-socket file at that path is an error (TTRPC_ADDRESS_IN_USE).
   */
  async listen(address: string): Promise<void> {
    if (this.#server) throw new TtrpcError('TTRPC_USAGE', 'the ttRPC server is already listening');
    const path = parseUnixAddress(address);
    await clearStaleSocket(path);

    const server = createServer();
    server.maxConnections = this.#maxConnections;
    server.on('connection', (socket) => this.#accept(socket));
    this.#server = server;
    try {
      await bindOwnerOnly(server, path);
      // Belt and braces (and the only protection inside a worker thread, where umask is unavailable):
      // connections are dropped until the mode is known to be 0600.
      await chmod(path, SOCKET_MODE);
      const st = await lstat(path);
      if (!st.isSocket() || (st.mode & 0o777) !== SOCKET_MODE) {
        throw new TtrpcError('TTRPC_ADDRESS_INVALID', `could not make ${path} an owner-only socket`);
      }
      this.#socketId = { dev: st.dev, ino: st.ino };
    } catch (e) {
      this.#server = undefined;
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if ((e as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new TtrpcError('TTRPC_ADDRESS_IN_USE', `another server took ${path} while binding`, {
          cause: e,
        });
      }
      throw e;
    }
    server.on('error', (e) => this.#log('error', 'ttrpc server socket error', e));
    this.#path = path;
    this.#accepting = true;
    this.#log('info', `ttrpc server listening on ${path}`);
  }

  /** Stops accepting, drops every connection (running handlers see their signal abort), removes the socket. */
  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#accepting = false;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.#connections) c.destroy();
    this.#connections.clear();
    await closed;
    await this.#removeOwnSocket();
    this.#path = undefined;
  }

  #accept(socket: Socket): void {
    if (!this.#accepting) {
      socket.destroy();
      return;
    }
    const conn = new ServerConnection(socket, {
      lookup: (service, method) => {
        const methods = this.#services.get(service);
        if (!methods) return 'no-service';
        return methods.get(method) ?? 'no-method';
      },
      log: this.#log,
      maxConcurrentCalls: this.#maxConcurrentCalls,
    });
    this.#connections.add(conn);
    socket.once('close', () => this.#connections.delete(conn));
  }

  /** Node (libuv) unlinks the path on close; if it did not, remove it only if it is still ours. */
  async #removeOwnSocket(): Promise<void> {
    const path = this.#path;
    const id = this.#socketId;
    this.#socketId = undefined;
    if (!path || !id) return;
    try {
      const st = await lstat(path);
      if (st.dev === id.dev && st.ino === id.ino) await unlink(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') this.#log('warn', `could not remove ${path}`, e);
    }
  }
}

/**
 * bind(2) under umask 0177 so the socket file is born 0600: there is no window in which another user
 * could connect. Node binds synchronously inside `listen()`, so the process-wide umask change is not
 * observable by other code.
 */
function bindOwnerOnly(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      resolve();
    });
    let previous: number | undefined;
    try {
      previous = process.umask(0o177);
    } catch {
      previous = undefined; // worker threads cannot change the umask
    }
    try {
      server.listen({ path, exclusive: true });
    } finally {
      if (previous !== undefined) process.umask(previous);
    }
  });
}

function positiveInt(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what} must be a positive integer`);
  return n;
}
