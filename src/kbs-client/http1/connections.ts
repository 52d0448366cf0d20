import { isIP, connect as netConnect, type Socket } from 'node:net';
import { type SecureContext, type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { ProxyRoute } from './proxy.js';
import { type Http1ParseError, type ParsedResponse, ResponseParser } from './response-parser.js';

/*
 * Keep-alive HTTP/1.1 connections to one origin, one request at a time per connection.
 *
 * Why not node:http: under the CDH's interpreter-only V8 (bin/cdh runs with --no-opt to stay within
 * its memory budget) node:http's client costs ~300 µs of CPU per request against ~100 µs for the
 * same exchange written straight to the TLS socket (bench/cdh.bench.ts, issue 4), and every warm
 * unseal is one such request. The protocol subset is small: requests we build ourselves, and the
 * strict response parser next door.
 *
 * Idle connections are kept (most recently used first) and dropped as soon as the server closes
 * them. A request that finds its reused connection closed before a single response byte arrives (the
 * server's idle timeout raced with us) is retried once on a new connection: the server never read it.
 */

export interface Origin {
  protocol: 'http:' | 'https:';
  /** Host name or IP address, without IPv6 brackets. */
  host: string;
  port: number;
  /** TLS trust: a context with extra roots, or undefined for Node's default roots. */
  secureContext?: SecureContext;
  /** Where to connect instead (the environment's proxy for this origin), if anywhere. */
  proxy?: ProxyRoute;
}

export interface Exchange {
  /** Request line, header fields and the empty line, as latin1 text. */
  head: string;
  body?: Buffer;
  maxBodyBytes: number;
  /** Absolute deadline (performance.now() based) for the whole exchange. */
  deadline: number;
}

/** A network-level failure, with the `code` of the underlying error when there is one. */
export class ConnectionError extends Error {
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown; viaProxy?: boolean },
  ) {
    super(message, options);
    this.name = 'ConnectionError';
    this.viaProxy = options?.viaProxy ?? false;
  }

  /** The failure was the proxy's (reaching it, or its answer to CONNECT), not the KBS's. */
  readonly viaProxy: boolean;
}

const MAX_IDLE = 8;

/** The listeners that guard a parked connection, removed when it is taken again. */
const idleHandlers = new WeakMap<Socket, () => void>();

export class ConnectionPool {
  readonly #origin: Origin;
  readonly #idle: Socket[] = [];
  readonly #all = new Set<Socket>();
  #session: Buffer | undefined;
  #closed = false;

  constructor(origin: Origin) {
    this.#origin = origin;
  }

  async send(x: Exchange): Promise<ParsedResponse> {
    const reused = this.#idle.pop();
    if (reused) {
      try {
        return await this.#exchange(reused, x, true);
      } catch (e) {
        if (!(e instanceof StaleConnection)) throw e;
      }
    }
    const fresh = this.#origin.proxy
      ? await this.#openViaProxy(this.#origin.proxy, x.deadline)
      : this.#open();
    return this.#exchange(fresh, x, false);
  }

  /** True when requests go to a proxy in absolute form (a plain-HTTP KBS behind an HTTP proxy). */
  get forwarding(): boolean {
    return this.#origin.proxy !== undefined && this.#origin.protocol === 'http:';
  }

  /** Destroys every connection, idle or busy. */
  close(): void {
    this.#closed = true;
    for (const s of this.#all) s.destroy();
    this.#all.clear();
    this.#idle.length = 0;
  }

  /** A direct connection to the origin. */
  #open(): Socket {
    this.#checkOpen();
    const o = this.#origin;
    return this.#track(
      o.protocol === 'https:'
        ? this.#tls({ host: o.host, port: o.port })
        : netConnect({ host: o.host, port: o.port }),
    );
  }

  #checkOpen(): void {
    if (this.#closed) throw new ConnectionError('the KBS client is closed', 'ERR_CLIENT_CLOSED');
  }

  /** TLS to the origin, directly or over `socket` (a proxy tunnel). */
  #tls(where: { host: string; port: number } | { socket: Socket }): TLSSocket {
    const o = this.#origin;
    const tls = tlsConnect({
      ...where,
      // The certificate is checked against this host; SNI is sent for names only (RFC 6066 §3).
      host: o.host,
      servername: isIP(o.host) ? undefined : o.host,
      secureContext: o.secureContext,
      session: this.#session,
    });
    // Resume TLS sessions on new connections, as node's https.Agent does.
    tls.on('session', (s: Buffer) => {
      this.#session = s;
    });
    return tls;
  }

  #track(socket: Socket): Socket {
    socket.setNoDelay(true);
    // Each exchange (or the idle guard) handles errors with its own listener; this one only makes
    // sure that an error arriving between those can never crash the process.
    socket.on('error', () => {});
    this.#all.add(socket);
    socket.once('close', () => {
      this.#all.delete(socket);
      const i = this.#idle.indexOf(socket);
      if (i >= 0) this.#idle.splice(i, 1);
    });
    return socket;
  }

  /**
   * A connection through the proxy: to an HTTPS KBS a CONNECT tunnel with TLS inside it (the proxy
   * sees neither the requests nor the tokens), to a plain-HTTP KBS the proxy connection itself.
   */
  async #openViaProxy(p: ProxyRoute, deadline: number): Promise<Socket> {
    this.#checkOpen();
    const o = this.#origin;
    const fail = (message: string, code: string, cause?: unknown) =>
      new ConnectionError(`the proxy ${p.display}: ${message}`, code, { cause, viaProxy: true });
    const toProxy = p.tls
      ? tlsConnect({ host: p.host, port: p.port, servername: isIP(p.host) ? undefined : p.host })
      : netConnect({ host: p.host, port: p.port });
    if (o.protocol === 'http:') return this.#track(toProxy);
    toProxy.on('error', () => {});
    this.#all.add(toProxy);
    const authority = `${isIP(o.host) === 6 ? `[${o.host}]` : o.host}:${o.port}`;
    const auth = p.authorization ? `proxy-authorization: ${p.authorization}\r\n` : '';
    try {
      await new Promise<void>((resolve, reject) => {
        let buf = Buffer.alloc(0);
        const done = (e?: Error) => {
          clearTimeout(timer);
          toProxy.off('data', onData);
          toProxy.off('error', onError);
          toProxy.off('close', onClose);
          if (e) reject(e);
          else resolve();
        };
        // Only the status matters: a refusal's body (an HTML page, say) is not read.
        const onData = (chunk: Buffer) => {
          buf = Buffer.concat([buf, chunk]);
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) {
            if (buf.length > 64 * 1024) done(fail('answer to CONNECT too large', 'EPROXY'));
            return;
          }
          const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(buf.toString('latin1', 0, buf.indexOf('\r\n')));
          if (!status) done(fail('bad answer to CONNECT', 'EPROXY'));
          else if (!status[1].startsWith('2'))
            done(fail(`CONNECT ${authority} refused with status ${status[1]}`, 'EPROXY'));
          else if (buf.length > end + 4) done(fail('data after the answer to CONNECT', 'EPROXY'));
          else done();
        };
        const onError = (e: NodeJS.ErrnoException) => done(fail(e.message, e.code ?? 'EPROXY', e));
        const onClose = () => done(fail('connection closed during CONNECT', 'EPROXY'));
        const timer = setTimeout(
          () => done(fail('no answer to CONNECT in time', 'ETIMEDOUT')),
          Math.max(0, deadline - performance.now()),
        );
        toProxy.on('data', onData);
        toProxy.on('error', onError);
        toProxy.on('close', onClose);
        toProxy.write(`CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n${auth}\r\n`, 'latin1');
      });
    } catch (e) {
      toProxy.destroy();
      this.#all.delete(toProxy);
      throw e;
    }
    this.#all.delete(toProxy);
    return this.#track(this.#tls({ socket: toProxy }));
  }

  #park(socket: Socket): void {
    if (this.#closed || this.#idle.length >= MAX_IDLE || socket.destroyed) {
      socket.destroy();
      return;
    }
    // An idle connection must not keep the process alive, and anything it receives is unexpected.
    socket.unref();
    const drop = () => socket.destroy();
    socket.on('data', drop);
    socket.on('end', drop);
    socket.on('error', drop);
    idleHandlers.set(socket, drop);
    this.#idle.push(socket);
  }

  #exchange(socket: Socket, x: Exchange, reused: boolean): Promise<ParsedResponse> {
    if (reused) {
      const drop = idleHandlers.get(socket);
      if (drop) {
        socket.off('data', drop);
        socket.off('end', drop);
        socket.off('error', drop);
        idleHandlers.delete(socket);
      }
      socket.ref();
    }
    const parser = new ResponseParser({ maxBodyBytes: x.maxBodyBytes });
    return new Promise<ParsedResponse>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | undefined, res?: ParsedResponse) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('error', onError);
        socket.off('close', onClose);
        if (err) {
          socket.destroy();
          reject(err);
        } else {
          if (res!.keepAlive) this.#park(socket);
          else socket.destroy();
          resolve(res!);
        }
      };
      const failed = (e: unknown, code: string) => {
        // Nothing came back on a reused connection: the server had closed it; it never saw the request.
        if (reused && parser.received === 0) finish(new StaleConnection());
        else
          finish(
            e instanceof ConnectionError ? e : new ConnectionError((e as Error).message, code, { cause: e }),
          );
      };
      const onData = (chunk: Buffer) => {
        let res: ParsedResponse | undefined;
        try {
          res = parser.push(chunk);
        } catch (e) {
          finish(e as Http1ParseError);
          return;
        }
        if (res) finish(undefined, res);
      };
      const onEnd = () => {
        try {
          finish(undefined, { ...parser.end(), keepAlive: false });
        } catch (e) {
          failed(e, 'ECONNRESET');
        }
      };
      const onError = (e: Error) => failed(e, (e as NodeJS.ErrnoException).code ?? 'ECONNRESET');
      const onClose = () => failed(new Error('connection closed'), 'ECONNRESET');
      const timer = setTimeout(
        () => finish(new ConnectionError('no answer in time', 'ETIMEDOUT')),
        Math.max(0, x.deadline - performance.now()),
      );
      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.on('error', onError);
      socket.on('close', onClose);
      if (x.body && x.body.length > 0) socket.write(Buffer.concat([Buffer.from(x.head, 'latin1'), x.body]));
      else socket.write(x.head, 'latin1');
    });
  }
}

class StaleConnection extends Error {}
