import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bypassesProxy, ProxyConfigError, proxyFromEnv } from './proxy.js';

const HTTPS = new URL('https://kbs.example:8080');
const HTTP = new URL('http://kbs.example:8080');
const route = (target: URL, env: Record<string, string>) => proxyFromEnv(target, env)?.display;

test('which variable applies: scheme-specific over ALL_PROXY, upper case over lower case', () => {
  assert.equal(route(HTTPS, {}), undefined);
  assert.equal(
    route(HTTPS, { HTTPS_PROXY: 'http://a:1', https_proxy: 'http://b:2', ALL_PROXY: 'http://c:3' }),
    'http://a:1',
  );
  assert.equal(route(HTTPS, { https_proxy: 'http://b:2', ALL_PROXY: 'http://c:3' }), 'http://b:2');
  assert.equal(route(HTTPS, { HTTP_PROXY: 'http://h:1' }), undefined, 'HTTP_PROXY is for http targets');
  assert.equal(route(HTTPS, { all_proxy: 'http://c:3' }), 'http://c:3');
  assert.equal(route(HTTP, { HTTP_PROXY: 'http://h:1', HTTPS_PROXY: 'http://a:1' }), 'http://h:1');
  assert.equal(route(HTTP, { http_proxy: 'http://l:1' }), 'http://l:1');
  // httpoxy: in a CGI environment HTTP_PROXY may come from a client's "Proxy:" header.
  assert.equal(route(HTTP, { REQUEST_METHOD: 'GET', HTTP_PROXY: 'http://evil:1' }), undefined);
  assert.equal(
    route(HTTP, { REQUEST_METHOD: 'GET', HTTP_PROXY: 'http://evil:1', ALL_PROXY: 'http://c:3' }),
    'http://c:3',
  );
  // Empty and unparsable values are skipped; a bare host:port means http.
  assert.equal(route(HTTPS, { HTTPS_PROXY: '  ', https_proxy: 'http://b:2' }), 'http://b:2');
  assert.equal(route(HTTPS, { HTTPS_PROXY: 'http://[bad', ALL_PROXY: 'http://c:3' }), 'http://c:3');
  assert.equal(route(HTTPS, { HTTPS_PROXY: 'proxy.corp:3128' }), 'http://proxy.corp:3128');
});

test('proxy URLs: default ports, TLS proxies, credentials as Basic (never shown), IPv6, unsupported schemes', () => {
  const p = proxyFromEnv(HTTPS, { HTTPS_PROXY: 'http://us%40er:p%3Ass@proxy:3128' })!;
  assert.equal(p.display, 'http://proxy:3128');
  assert.equal(p.authorization, `Basic ${Buffer.from('us@er:p:ss').toString('base64')}`);
  assert.deepEqual(
    { ...proxyFromEnv(HTTPS, { HTTPS_PROXY: 'https://proxy' }) },
    { display: 'https://proxy', tls: true, host: 'proxy', port: 443, authorization: undefined },
  );
  assert.equal(proxyFromEnv(HTTPS, { HTTPS_PROXY: 'http://[::1]:3128' })?.host, '::1');
  assert.equal(proxyFromEnv(HTTPS, { HTTPS_PROXY: 'http://proxy' })?.port, 80);
  assert.throws(
    () => proxyFromEnv(HTTPS, { ALL_PROXY: 'socks5://proxy:1080' }),
    (e) => e instanceof ProxyConfigError && /ALL_PROXY: proxy scheme socks5 is not supported/.test(e.message),
  );
});

test('NO_PROXY: wildcard, domains and subdomains, IP addresses and CIDR blocks', () => {
  const yes = (list: string, host: string) =>
    assert.equal(bypassesProxy(list, host), true, `${list} ∋ ${host}`);
  const no = (list: string, host: string) =>
    assert.equal(bypassesProxy(list, host), false, `${list} ∌ ${host}`);
  yes('*', 'anything.example');
  yes('example.com', 'example.com');
  yes('example.com', 'kbs.example.com');
  yes('.example.com', 'example.com');
  yes('.example.com', 'a.b.example.com');
  yes(' other , EXAMPLE.com ', 'Kbs.Example.COM.');
  no('example.com', 'notexample.com');
  no('ample.com', 'example.com');
  no('', 'example.com');
  no('kbs.example.com', 'example.com');
  yes('10.0.0.1', '10.0.0.1');
  no('10.0.0.1', '10.0.0.2');
  yes('10.0.0.0/8', '10.200.3.4');
  no('10.0.0.0/8', '11.0.0.1');
  no('10.0.0.0/8', '10.example');
  yes('::1', '::1');
  yes('[::1]', '::1');
  yes('fd00::/8', 'fd12::5');
  no('fd00::/8', '10.0.0.1');
  no('10.0.0.0/99', '10.0.0.1');
  assert.equal(route(HTTPS, { HTTPS_PROXY: 'http://p:1', NO_PROXY: '.example' }), undefined);
  assert.equal(route(HTTPS, { HTTPS_PROXY: 'http://p:1', no_proxy: 'kbs.example' }), undefined);
  assert.equal(
    route(HTTPS, { HTTPS_PROXY: 'http://p:1', NO_PROXY: '', no_proxy: 'kbs.example' }),
    'http://p:1',
  );
  assert.equal(
    route(new URL('https://[::1]:8080'), { HTTPS_PROXY: 'http://p:1', NO_PROXY: '::1' }),
    undefined,
  );
});
