import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { after, describe, test } from 'node:test';
import { startHttpProxy } from '../../test/helpers/http-proxy.js';
import { buildCertificate } from '../kbs/init/x509.js';
import { KbsClientError } from './errors.js';
import { KbsHttp } from './http.js';

/*
 * The KBS client's HTTP/1.1 transport against real servers on loopback: node:http/https servers for
 * the ordinary cases, raw TCP servers for the ones a well-behaved server never produces.
 */

const code = (c: string, re?: RegExp) => (e: unknown) =>
  e instanceof KbsClientError && e.code === c && (!re || re.test(e.message));

const closers: (() => void)[] = [];
after(() => {
  for (const c of closers) c();
});

function listen(server: Server | ReturnType<typeof createNetServer>): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
    closers.push(() => server.close());
  });
}

/** A node:http server; counts connections and requests. */
async function httpServer(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void) {
  const stats = { connections: 0, requests: 0 };
  const server = createHttpServer((req, res) => {
    stats.requests++;
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => handler(req, res, body));
  });
  server.on('connection', () => stats.connections++);
  const port = await listen(server);
  return { server, stats, url: `http://127.0.0.1:${port}` };
}

/** A raw TCP server: `onRequest(socket, n)` is called for the n-th request head seen on a connection. */
async function rawServer(onRequest: (s: Socket, n: number) => void) {
  const stats = { connections: 0, requests: 0 };
  const server = createNetServer((s) => {
    stats.connections++;
    let n = 0;
    let buf = '';
    s.on('data', (c) => {
      buf += c.toString('latin1');
      while (buf.includes('\r\n\r\n')) {
        buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
        stats.requests++;
        onRequest(s, n++);
      }
    });
    s.on('error', () => {});
  });
  const port = await listen(server);
  return { stats, url: `http://127.0.0.1:${port}` };
}

const get = (h: KbsHttp, path = '/resource/a/b/c') => h.request({ method: 'GET', path });

/** An HTTPS server on loopback with a fresh self-signed certificate for `localhost` (no IP SAN). */
async function httpsServer(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const cert = buildCertificate({
    subjectCn: 'kbs',
    publicKey: k.publicKey,
    issuerKey: k.privateKey,
    days: 1,
    san: ['localhost'],
  });
  const server = createHttpsServer(
    { cert, key: k.privateKey.export({ format: 'pem', type: 'pkcs8' }) },
    handler,
  );
  return { cert, port: await listen(server) };
}

describe('KbsHttp transport', () => {
  test('keep-alive: sequential requests share one connection; bodies and headers arrive intact', async () => {
    const { stats, url } = await httpServer((req, res, body) => {
      res.setHeader('set-cookie', ['kbs-session-id=1', 'other=2']);
      res.end(JSON.stringify({ method: req.method, url: req.url, body, ua: req.headers['user-agent'] }));
    });
    const h = new KbsHttp({ url: `${url}/prefix/` });
    for (let i = 0; i < 5; i++) {
      const r = await h.request({
        method: 'POST',
        path: '/auth?x=1',
        body: `{"n":${i}}`,
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse(r.body.toString()), {
        method: 'POST',
        url: '/prefix/kbs/v0/auth?x=1',
        body: `{"n":${i}}`,
        ua: 'attestation-agent-kbs-client/0.1.0',
      });
      assert.deepEqual(r.headers['set-cookie'], ['kbs-session-id=1', 'other=2']);
    }
    assert.equal(stats.connections, 1);
    h.close();
  });

  test('chunked and close-delimited bodies', async () => {
    const chunked = await httpServer((_req, res) => {
      res.write('{"a":');
      setTimeout(() => res.end('1}'), 5);
    });
    const h = new KbsHttp({ url: chunked.url });
    assert.equal((await get(h)).body.toString(), '{"a":1}');
    assert.equal((await get(h)).body.toString(), '{"a":1}');
    assert.equal(chunked.stats.connections, 1);
    h.close();

    const legacy = await rawServer((s) =>
      s.end('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close'),
    );
    const h2 = new KbsHttp({ url: legacy.url });
    assert.equal((await get(h2)).body.toString(), 'until close');
    assert.equal((await get(h2)).body.toString(), 'until close');
    assert.equal(legacy.stats.connections, 2, 'a close-delimited response ends its connection');
    h2.close();
  });

  test('a kept connection the server dropped is replaced without an error', async () => {
    // Answers the first request on each connection, then drops the connection at the next one: the
    // idle-timeout race, where the request was sent on a connection the server had given up.
    const srv = await rawServer((s, n) => {
      if (n === 0) s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      else s.destroy();
    });
    const h = new KbsHttp({ url: srv.url });
    for (let i = 0; i < 3; i++) assert.equal((await get(h)).body.toString(), 'ok');
    assert.equal(srv.stats.connections, 3);
    h.close();

    // Idle connections closed by the server while idle are simply not reused.
    const idle = await httpServer((_req, res) => res.end('ok'));
    idle.server.keepAliveTimeout = 30;
    const serverSideClosed = new Promise((r) => idle.server.once('connection', (s) => s.once('close', r)));
    const h2 = new KbsHttp({ url: idle.url });
    await get(h2);
    await serverSideClosed;
    await new Promise((r) => setTimeout(r, 20));
    assert.equal((await get(h2)).body.toString(), 'ok');
    assert.equal(idle.stats.connections, 2);
    h2.close();
  });

  test('a fresh connection that fails mid-response is an error, not a retry', async () => {
    const srv = await rawServer((s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc');
      setTimeout(() => s.destroy(), 5);
    });
    const h = new KbsHttp({ url: srv.url });
    await assert.rejects(get(h), code('KBS_UNREACHABLE'));
    assert.equal(srv.stats.requests, 1);
    h.close();
  });

  test('malformed and oversized responses are RESPONSE_INVALID', async () => {
    const garbage = await rawServer((s) => s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx'));
    const h = new KbsHttp({ url: garbage.url });
    await assert.rejects(get(h), code('RESPONSE_INVALID', /unsupported transfer coding/));
    h.close();
    const big = await httpServer((_req, res) => res.end('x'.repeat(5000)));
    const h2 = new KbsHttp({ url: big.url, maxResponseBytes: 4096 });
    await assert.rejects(get(h2), code('RESPONSE_INVALID', /exceeds 4096 bytes/));
    h2.close();
  });

  test('header values that would split the request are refused before anything is sent', async () => {
    const srv = await httpServer((_req, res) => res.end('ok'));
    const h = new KbsHttp({ url: srv.url });
    const bad: Record<string, string>[] = [
      { cookie: 'a=1\r\nX-Injected: 1' },
      { 'bad name': 'x' },
      { cookie: 'a\u0000' },
    ];
    for (const headers of bad) {
      await assert.rejects(h.request({ method: 'GET', path: '/x', headers }), code('INVALID_ARGUMENT'));
    }
    assert.equal(srv.stats.requests, 0);
    h.close();
  });

  test('concurrent requests each get a connection; at most 8 are kept idle', async () => {
    let open = 0;
    const srv = await httpServer((_req, res) => setTimeout(() => res.end(String(open)), 20));
    srv.server.on('connection', (s) => {
      open++;
      s.on('close', () => open--);
    });
    const h = new KbsHttp({ url: srv.url });
    const results = await Promise.all(Array.from({ length: 20 }, () => get(h)));
    assert.ok(results.every((r) => r.status === 200));
    assert.equal(srv.stats.connections, 20);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(open, 8);
    h.close();
  });

  test('TLS: the extra root is trusted, a missing one and a wrong host name are refused', async () => {
    const { cert, port } = await httpsServer((_req, res) => res.end('tls ok'));
    const h = new KbsHttp({ url: `https://localhost:${port}`, extraRootCertsPem: cert });
    assert.equal((await get(h)).body.toString(), 'tls ok');
    assert.equal((await get(h)).body.toString(), 'tls ok');
    h.close();
    const untrusted = new KbsHttp({ url: `https://localhost:${port}` });
    await assert.rejects(get(untrusted), code('KBS_UNREACHABLE', /--cert-file/));
    untrusted.close();
    const byIp = new KbsHttp({ url: `https://127.0.0.1:${port}`, extraRootCertsPem: cert });
    await assert.rejects(get(byIp), code('KBS_UNREACHABLE', /ERR_TLS_CERT_ALTNAME_INVALID/));
    byIp.close();
  });

  test('kept connections do not keep the process alive', async () => {
    const srv = await httpServer((_req, res) => res.end('ok'));
    const script = `
      const { KbsHttp } = await import(${JSON.stringify(new URL('./http.js', import.meta.url).href)});
      const h = new KbsHttp({ url: ${JSON.stringify(srv.url)} });
      const r = await h.request({ method: 'GET', path: '/x' });
      process.stdout.write(String(r.status));`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    const started = Date.now();
    const exitCode = await new Promise((r) => child.on('exit', r));
    assert.equal(exitCode, 0);
    assert.equal(out, '200');
    assert.ok(Date.now() - started < 4000, 'exited without waiting for the server to drop the connection');
  });
});

/** A loopback HTTP proxy, closed after the tests. */
async function proxyServer(connectStatus?: number) {
  const p = await startHttpProxy(connectStatus);
  closers.push(() => void p.close());
  return p;
}

describe('KbsHttp through a proxy (HTTPS_PROXY, HTTP_PROXY, NO_PROXY)', () => {
  const kbsSaw: (string | undefined)[] = [];
  const tlsKbs = httpsServer((req, res) => {
    kbsSaw.push(req.headers['proxy-authorization']);
    res.end(`tunnelled ${req.url}`);
  });

  test('an HTTPS KBS is reached through a CONNECT tunnel; credentials go to the proxy only', async () => {
    const { cert, port: kbsPort } = await tlsKbs;
    const proxy = await proxyServer();
    const h = new KbsHttp({
      url: `https://localhost:${kbsPort}`,
      extraRootCertsPem: cert,
      proxyEnv: { HTTPS_PROXY: `http://op%40corp:s3cret@127.0.0.1:${proxy.port}` },
    });
    assert.equal((await get(h)).body.toString(), 'tunnelled /kbs/v0/resource/a/b/c');
    assert.equal((await get(h)).body.toString(), 'tunnelled /kbs/v0/resource/a/b/c');
    assert.deepEqual(proxy.seen.connects, [`localhost:${kbsPort}`], 'one tunnel, kept alive');
    assert.deepEqual(proxy.seen.auth, [`Basic ${Buffer.from('op@corp:s3cret').toString('base64')}`]);
    assert.deepEqual(kbsSaw, [undefined, undefined], 'the KBS never sees the proxy credentials');
    h.close();

    // NO_PROXY exempts the KBS: straight there, the proxy is not contacted.
    const direct = new KbsHttp({
      url: `https://localhost:${kbsPort}`,
      extraRootCertsPem: cert,
      proxyEnv: { HTTPS_PROXY: proxy.url, NO_PROXY: 'example.org,localhost' },
    });
    assert.equal((await get(direct)).status, 200);
    assert.equal(proxy.seen.connects.length, 1);
    direct.close();
  });

  test('a plain-HTTP KBS goes through the proxy in absolute form', async () => {
    const kbs = await httpServer((req, res) =>
      res.end(`forwarded ${req.url} auth=${req.headers['proxy-authorization']}`),
    );
    const proxy = await proxyServer();
    const h = new KbsHttp({ url: kbs.url, proxyEnv: { HTTP_PROXY: `http://u:p@127.0.0.1:${proxy.port}` } });
    assert.equal((await get(h)).body.toString(), 'forwarded /kbs/v0/resource/a/b/c auth=undefined');
    assert.deepEqual(proxy.seen.forwards, [`${kbs.url}/kbs/v0/resource/a/b/c`]);
    assert.deepEqual(proxy.seen.auth, [`Basic ${Buffer.from('u:p').toString('base64')}`]);
    h.close();
  });

  test('proxy failures say it was the proxy, without its credentials', async () => {
    const refusing = await proxyServer(407);
    const h = new KbsHttp({
      url: 'https://localhost:9',
      proxyEnv: { HTTPS_PROXY: `http://u:hunter2@127.0.0.1:${refusing.port}` },
    });
    await assert.rejects(get(h), (e) => {
      assert.ok(
        code(
          'KBS_UNREACHABLE',
          /through the proxy http:\/\/127\.0\.0\.1:\d+: CONNECT localhost:9 refused with status 407/,
        )(e),
        String(e),
      );
      assert.doesNotMatch(String(e), /hunter2|u:/);
      return true;
    });
    h.close();

    const closed = createNetServer();
    const closedPort = await listen(closed);
    closed.close();
    const down = new KbsHttp({
      url: 'https://localhost:9',
      proxyEnv: { HTTPS_PROXY: `http://127.0.0.1:${closedPort}` },
    });
    await assert.rejects(get(down), code('KBS_UNREACHABLE', /through the proxy .*ECONNREFUSED/));
    down.close();
    const downHttp = new KbsHttp({
      url: 'http://kbs.invalid:8080',
      proxyEnv: { HTTP_PROXY: `http://127.0.0.1:${closedPort}` },
    });
    await assert.rejects(
      get(downHttp),
      code('KBS_UNREACHABLE', /through the proxy http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/),
    );
    downHttp.close();

    const socks = new KbsHttp({
      url: 'https://localhost:9',
      proxyEnv: { ALL_PROXY: 'socks5://127.0.0.1:1080' },
    });
    await assert.rejects(
      get(socks),
      code('KBS_UNREACHABLE', /ALL_PROXY: proxy scheme socks5 is not supported/),
    );
    socks.close();
  });
});
