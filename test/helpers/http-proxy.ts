import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { type AddressInfo, connect as netConnect, type Socket } from 'node:net';

export interface HttpProxy {
  url: string;
  port: number;
  /** CONNECT targets, absolute-form request targets, and the Proxy-Authorization of each. */
  seen: { connects: string[]; forwards: string[]; auth: (string | undefined)[] };
  close(): Promise<void>;
}

/**
 * A real HTTP proxy on loopback: CONNECT tunnels (answering `connectStatus`, with an HTML body when
 * it refuses) and absolute-form forwarding (Proxy-Authorization stripped before forwarding).
 */
export async function startHttpProxy(connectStatus = 200): Promise<HttpProxy> {
  const seen: HttpProxy['seen'] = { connects: [], forwards: [], auth: [] };
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    seen.forwards.push(req.url ?? '');
    seen.auth.push(req.headers['proxy-authorization']);
    const target = new URL(req.url ?? '');
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    const out = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: req.method,
        headers,
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    req.pipe(out);
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    seen.connects.push(req.url ?? '');
    seen.auth.push(req.headers['proxy-authorization']);
    if (connectStatus !== 200) {
      client.end(
        `HTTP/1.1 ${connectStatus} Nope\r\nContent-Type: text/html\r\nContent-Length: 11\r\n\r\n<h1>no</h1>`,
      );
      return;
    }
    const [host, port] = [
      req.url!.slice(0, req.url!.lastIndexOf(':')),
      req.url!.slice(req.url!.lastIndexOf(':') + 1),
    ];
    const upstream = netConnect({ host: host.replace(/^\[(.*)\]$/, '$1'), port: Number(port) }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    seen,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
