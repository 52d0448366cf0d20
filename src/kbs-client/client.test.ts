import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { SampleAttester, SampleDeviceAttester } from '../attestation/attesters/sample.js';
import { encryptResourceResponse, parseTeePublicJwk } from '../crypto/jwe.js';
import { KmsError } from '../kms/errors.js';
import { KbsClient, type KbsClientOptions } from './client.js';
import { KbsClientError } from './errors.js';
import { KbsResourceGetter } from './resource-getter.js';
import { primaryReportData } from './runtime-data.js';
import { TeeKeyPair } from './tee-key.js';

/*
 * The client against a small in-process fake KBS on loopback: real HTTP, real RCAR messages (the
 * fake checks the report-data binding), real JWE. Behaviour switches let each test script the
 * server's answers.
 */

type Reply = { status: number; type?: string; detail?: string; raw?: string };

class FakeKbs {
  server!: Server;
  url = '';
  auths = 0;
  attests = 0;
  gets = 0;
  /** Valid tokens → their tee-pubkey. */
  tokens = new Map<string, unknown>();
  sessions = new Map<string, { nonce: string; token?: string; pubkey?: unknown }>();
  resources = new Map<string, Buffer>();
  /** Scripted answers for the next GETs (consumed in order). */
  script: Reply[] = [];
  /** Scripted answers for the next /attest calls. */
  attestScript: Reply[] = [];
  tokenTtlSeconds = 300;
  lastAttestBody: Record<string, unknown> | undefined;
  lastGetHeaders: IncomingMessage['headers'] | undefined;
  allow: (path: string) => boolean = () => true;

  async start(host = '127.0.0.1'): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, host, r));
    const port = (this.server.address() as AddressInfo).port;
    this.url = host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  reset(): void {
    this.auths = this.attests = this.gets = 0;
    this.tokens.clear();
    this.sessions.clear();
    this.script = [];
    this.attestScript = [];
    this.allow = () => true;
    this.tokenTtlSeconds = 300;
  }

  /** Forget every session and token, as a restarted KBS with an ephemeral signer would. */
  restart(): void {
    this.tokens.clear();
    this.sessions.clear();
  }

  private error(res: ServerResponse, r: Reply): void {
    res.writeHead(r.status, { 'content-type': 'application/json' });
    res.end(
      r.raw ??
        JSON.stringify({
          type: `https://github.com/confidential-containers/kbs/errors/${r.type}`,
          detail: r.detail ?? '',
        }),
    );
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://x');
    const cookie = /kbs-session-id=([0-9a-f]{32})/.exec(req.headers.cookie ?? '')?.[1];
    if (req.method === 'POST' && url.pathname === '/kbs/v0/auth') {
      this.auths++;
      const r = JSON.parse(body);
      if (r.version !== '0.4.0' || !('extra-params' in r))
        return this.error(res, { status: 401, type: 'AttestationError' });
      const id = randomUUID().replace(/-/g, '');
      const nonce = randomBytes(32).toString('base64');
      this.sessions.set(id, { nonce });
      res.writeHead(200, {
        'content-type': 'application/json',
        'set-cookie': `kbs-session-id=${id}; Expires=${new Date(Date.now() + 300_000).toUTCString()}`,
      });
      return void res.end(JSON.stringify({ nonce, 'extra-params': '' }));
    }
    if (req.method === 'POST' && url.pathname === '/kbs/v0/attest') {
      this.attests++;
      const s = cookie ? this.sessions.get(cookie) : undefined;
      const scripted = this.attestScript.shift();
      if (scripted) return this.error(res, scripted);
      if (!s) return this.error(res, { status: 401, type: 'AttestationError', detail: 'no session' });
      const a = JSON.parse(body);
      this.lastAttestBody = a;
      const pubkey = parseTeePublicJwk(a['runtime-data']['tee-pubkey']);
      const te = a['tee-evidence'];
      const expected = primaryReportData('sha384', s.nonce, pubkey, te.additional_evidence);
      const got = Buffer.from(te.primary_evidence.report_data, 'base64');
      if (a['runtime-data'].nonce !== s.nonce || !got.equals(expected)) {
        return this.error(res, {
          status: 401,
          type: 'AttestationError',
          detail: 'Attestation error: RCAR handshake Attest failed',
        });
      }
      const claims = {
        exp: Math.floor(Date.now() / 1000) + this.tokenTtlSeconds,
        'tee-pubkey': pubkey,
        jti: randomUUID(),
      };
      const token = `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.c2ln`;
      this.tokens.set(token, pubkey);
      s.token = token;
      s.pubkey = pubkey;
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ token }));
    }
    if (req.method === 'GET' && url.pathname.startsWith('/kbs/v0/')) {
      this.gets++;
      this.lastGetHeaders = req.headers;
      const scripted = this.script.shift();
      if (scripted) return this.error(res, scripted);
      const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      let pubkey: unknown;
      if (cookie && this.sessions.get(cookie)?.token) pubkey = this.sessions.get(cookie)!.pubkey;
      else if (bearer) {
        pubkey = this.tokens.get(bearer);
        if (!pubkey)
          return this.error(res, { status: 401, type: 'TokenVerifierError', detail: 'Token Verifier error' });
      } else
        return this.error(res, { status: 401, type: 'TokenNotFound', detail: 'Attestation Token not found' });
      const path = url.pathname.slice('/kbs/v0/'.length) + url.search;
      if (!this.allow(path))
        return this.error(res, { status: 401, type: 'PolicyDeny', detail: 'Access denied by policy' });
      const value = this.resources.get(path);
      if (!value)
        return this.error(res, { status: 401, type: 'PluginInternalError', detail: 'Plugin internal error' });
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify(encryptResourceResponse(pubkey, value)));
    }
    this.error(res, { status: 404, type: 'PluginNotFound', detail: 'Plugin x not found' });
  }
}

const kbs = new FakeKbs();
const clients: KbsClient[] = [];
function client(o: Partial<KbsClientOptions> = {}): KbsClient {
  const c = new KbsClient({
    url: kbs.url,
    evidence: { primary: new SampleAttester(), additional: [] },
    attestRetryDelayMs: 1,
    ...o,
  });
  clients.push(c);
  return c;
}
const code = (c: string) => (e: unknown) => {
  assert.ok(e instanceof KbsClientError, String(e));
  assert.equal(e.code, c, e.message);
  return true;
};

before(() => kbs.start());
after(async () => {
  for (const c of clients) c.close();
  await kbs.stop();
});
beforeEach(() => {
  kbs.reset();
  kbs.resources.set('resource/default/key/1', Buffer.from('shhhhhhh'));
});

describe('resource fetches', () => {
  test('one attestation serves 100 fetches (bearer); the secret decrypts', async () => {
    const c = client();
    for (let i = 0; i < 100; i++) {
      assert.equal((await c.getResource({ path: 'default/key/1' })).toString(), 'shhhhhhh');
    }
    assert.equal(c.stats.attestations, 1);
    assert.equal(kbs.attests, 1);
    assert.equal(c.stats.tokenReuses, 99);
    assert.match(kbs.lastGetHeaders?.authorization ?? '', /^Bearer /);
    assert.match(kbs.lastGetHeaders?.['user-agent'] ?? '', /^attestation-agent-kbs-client\//);
  });

  test('concurrent first fetches share one attestation', async () => {
    const c = client();
    await Promise.all(Array.from({ length: 10 }, () => c.getResource({ path: 'default/key/1' })));
    assert.equal(kbs.attests, 1);
  });

  test('cookie mode sends the session cookie and no bearer token', async () => {
    const c = client({ auth: 'cookie' });
    assert.equal((await c.getResource({ path: 'default/key/1' })).toString(), 'shhhhhhh');
    assert.match(kbs.lastGetHeaders?.cookie ?? '', /^kbs-session-id=[0-9a-f]{32}$/);
    assert.equal(kbs.lastGetHeaders?.authorization, undefined);
  });

  for (const alg of ['P-521', 'RSA-2048'] as const) {
    test(`${alg} TEE keys work end to end`, async () => {
      const c = client({ teeKeyAlgorithm: alg });
      assert.equal((await c.getResource({ path: 'default/key/1' })).toString(), 'shhhhhhh');
      const sent = (kbs.lastAttestBody!['runtime-data'] as Record<string, Record<string, string>>)[
        'tee-pubkey'
      ];
      assert.equal(sent.kty, alg === 'P-521' ? 'EC' : 'RSA');
    });
  }

  test('composite evidence (sampledevice) passes the binding check', async () => {
    const c = client({
      evidence: { primary: new SampleAttester(), additional: [new SampleDeviceAttester()] },
    });
    await c.getResource({ path: 'default/key/1' });
    const te = kbs.lastAttestBody?.['tee-evidence'] as Record<string, string>;
    assert.match(te.additional_evidence, /^\{"sampledevice":\{"report_data":"[^"]+","svn":"2"\}\}$/);
  });

  test('init-data is sent as TOML', async () => {
    const c = client({ initData: 'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n' });
    await c.getResource({ path: 'default/key/1' });
    assert.deepEqual(kbs.lastAttestBody?.['init-data'], {
      format: 'toml',
      body: 'version = "0.1.0"\nalgorithm = "sha256"\n[data]\n',
    });
  });

  test('401 with a held token (KBS restarted) → one re-attestation → success', async () => {
    const c = client();
    await c.getResource({ path: 'default/key/1' });
    kbs.restart();
    assert.equal((await c.getResource({ path: 'default/key/1' })).toString(), 'shhhhhhh');
    assert.equal(kbs.attests, 2);
    assert.equal(c.stats.reattestations, 1);
  });

  test('cookie mode: a lost session is re-established', async () => {
    const c = client({ auth: 'cookie' });
    await c.getResource({ path: 'default/key/1' });
    kbs.restart();
    assert.equal((await c.getResource({ path: 'default/key/1' })).toString(), 'shhhhhhh');
    assert.equal(kbs.attests, 2);
  });

  test('an expiring token is renewed before use', async () => {
    kbs.tokenTtlSeconds = 0; // already at its exp when the second fetch starts
    const c = client();
    await c.getResource({ path: 'default/key/1' });
    await c.getResource({ path: 'default/key/1' });
    assert.equal(kbs.attests, 2);
    assert.equal(kbs.gets, 2, 'no GET is wasted on a token about to expire');
  });

  test('policy denial with a fresh token is final (no pointless re-attestation)', async () => {
    kbs.allow = () => false;
    const c = client();
    await assert.rejects(c.getResource({ path: 'default/key/1' }), (e: unknown) => {
      code('UNAUTHORIZED')(e);
      assert.equal((e as KbsClientError).kbsType, 'PolicyDeny');
      assert.match((e as Error).message, /Access denied by policy/);
      return true;
    });
    assert.equal(kbs.attests, 1);
    assert.equal(kbs.gets, 1);
  });

  test('policy denial with a held token re-attests once (reference values may have changed)', async () => {
    const c = client();
    await c.getResource({ path: 'default/key/1' });
    kbs.script = [{ status: 401, type: 'PolicyDeny', detail: 'Access denied by policy' }];
    assert.equal((await c.getResource({ path: 'default/key/1' })).toString(), 'shhhhhhh');
    assert.equal(kbs.attests, 2);
  });

  test('cookie mode follows upstream: three 401s, then UNAUTHORIZED', async () => {
    kbs.allow = () => false;
    const c = client({ auth: 'cookie' });
    await assert.rejects(c.getResource({ path: 'default/key/1' }), code('UNAUTHORIZED'));
    assert.equal(kbs.gets, 3);
    assert.equal(kbs.attests, 3);
  });

  test('a missing resource (401 PluginInternalError) is RESOURCE_NOT_FOUND without retries', async () => {
    const c = client();
    await assert.rejects(c.getResource({ path: 'default/key/none' }), code('RESOURCE_NOT_FOUND'));
    assert.equal(kbs.gets, 1);
  });

  test('404 is RESOURCE_NOT_FOUND; 403 is UNAUTHORIZED; 500 is KBS_ERROR; all final', async () => {
    const c = client();
    kbs.script = [{ status: 404, type: 'PluginNotFound', detail: 'Plugin nope not found' }];
    await assert.rejects(c.getResource({ path: 'default/key/1' }), code('RESOURCE_NOT_FOUND'));
    kbs.script = [{ status: 403, type: 'PolicyDeny' }];
    await assert.rejects(c.getResource({ path: 'default/key/1' }), code('UNAUTHORIZED'));
    kbs.script = [{ status: 500, raw: '<html>oops</html>' }];
    await assert.rejects(c.getResource({ path: 'default/key/1' }), (e: unknown) => {
      code('KBS_ERROR')(e);
      assert.match((e as Error).message, /not a KBS \{"type","detail"\} object/);
      return true;
    });
    assert.equal(kbs.gets, 3);
    assert.equal(kbs.attests, 1);
  });

  test('a response that does not decrypt is DECRYPT_FAILED; garbage is RESPONSE_INVALID', async () => {
    const c = client();
    await c.getResource({ path: 'default/key/1' });
    const other = encryptResourceResponse((await TeeKeyPair.generate()).publicJwk, Buffer.from('x'));
    kbs.script = [{ status: 200, raw: JSON.stringify(other) }];
    await assert.rejects(c.getResource({ path: 'default/key/1' }), code('DECRYPT_FAILED'));
    kbs.script = [{ status: 200, raw: 'not json' }];
    await assert.rejects(c.getResource({ path: 'default/key/1' }), code('RESPONSE_INVALID'));
  });

  test('invalid resource paths fail before any network traffic', async () => {
    const c = client();
    for (const p of ['a/b', 'a/b/c/d', '.a/b/c', 'a//c', 'a/b/c?x', 'a/b/ c', 'a/%2e%2e/c']) {
      await assert.rejects(c.getResource({ path: p }), code('INVALID_ARGUMENT'), p);
    }
    for (const p of ['..', 'x/../../auth', '%2E%2e/resource-policy', 'x/./y']) {
      await assert.rejects(c.getResource({ plugin: 'other', path: p }), code('INVALID_ARGUMENT'), p);
    }
    assert.equal(kbs.auths, 0);
  });

  test('plugins and queries map to /kbs/v0/<plugin>/<path>?<query>', async () => {
    kbs.resources.set('nebula-ca/credential?name=n&ip=1.2.3.4', Buffer.from('cert'));
    const c = client();
    assert.equal(
      (
        await c.getResource({ plugin: 'nebula-ca', path: 'credential', query: 'name=n&ip=1.2.3.4' })
      ).toString(),
      'cert',
    );
  });
});

describe('attestation failures', () => {
  test('a rejected /attest is retried, then ATTESTATION_FAILED naming the KBS detail', async () => {
    kbs.attestScript = Array.from({ length: 5 }, () => ({
      status: 401,
      type: 'AttestationError',
      detail: 'Attestation error: RCAR handshake Attest failed',
    }));
    const events: boolean[] = [];
    const c = client({ observer: { onAttestation: (e) => events.push(e.ok) } });
    await assert.rejects(c.getResource({ path: 'default/key/1' }), (e: unknown) => {
      code('ATTESTATION_FAILED')(e);
      assert.match((e as Error).message, /RCAR handshake Attest failed.*after 5 attempts/);
      return true;
    });
    assert.equal(kbs.attests, 5);
    assert.deepEqual(events, [false, false, false, false, false]);
    assert.equal(c.stats.attestationFailures, 5);
  });

  test('a KBS without attestation (404 on /auth) fails at once', async () => {
    const c = client({ url: `${kbs.url}/nothing-here` });
    await assert.rejects(c.getResource({ path: 'default/key/1' }), (e: unknown) => {
      code('ATTESTATION_FAILED')(e);
      assert.match((e as Error).message, /resource-only KBS/);
      return true;
    });
    assert.equal(c.stats.attestationFailures, 1);
  });

  test('a transient /attest failure is absorbed by the retry', async () => {
    kbs.attestScript = [{ status: 401, type: 'AttestationError' }];
    const c = client();
    assert.equal((await c.getResource({ path: 'default/key/1' })).toString(), 'shhhhhhh');
    assert.equal(c.stats.attestations, 1);
    assert.equal(c.stats.attestationFailures, 1);
  });

  test('attest() returns the token and key for the passport flow', async () => {
    const c = client({ teeKeyAlgorithm: 'RSA-2048' });
    const a = await c.attest();
    assert.ok(kbs.tokens.has(a.token.raw));
    assert.equal(a.teeKey.publicJwk.kty, 'RSA');
    assert.equal(a.sessionExpiresAt !== undefined, true);
  });
});

describe('KbsResourceGetter', () => {
  test('maps resource URIs and failures to KmsError codes', async () => {
    const getter = new KbsResourceGetter({ client: client() });
    assert.equal(Buffer.from(await getter.get('kbs:///default/key/1')).toString(), 'shhhhhhh');
    assert.equal(
      Buffer.from(await getter.get('kbs://ignored.example:99/default/key/1')).toString(),
      'shhhhhhh',
    );
    const kms = (c: string) => (e: unknown) => {
      assert.ok(e instanceof KmsError, String(e));
      assert.equal(e.code, c, e.message);
      return true;
    };
    await assert.rejects(getter.get('kbs:///default/key/missing'), kms('RESOURCE_NOT_FOUND'));
    await assert.rejects(getter.get('http:///default/key/1'), kms('RESOURCE_URI_INVALID'));
    await assert.rejects(getter.get('kbs:///a/b'), kms('RESOURCE_URI_INVALID'));
    kbs.allow = () => false;
    kbs.restart();
    await assert.rejects(getter.get('kbs:///default/key/1'), kms('POLICY_DENIED'));
    kbs.attestScript = Array.from({ length: 5 }, () => ({ status: 401, type: 'AttestationError' }));
    kbs.restart();
    await assert.rejects(getter.get('kbs:///default/key/1'), kms('ATTESTATION_FAILED'));
    assert.ok(getter.stats.attestations >= 1);
  });

  test('an unreachable KBS is KBS_UNREACHABLE', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const getter = new KbsResourceGetter({
      url: `http://127.0.0.1:${port}`,
      evidence: { primary: new SampleAttester(), additional: [] },
      attestAttempts: 2,
      attestRetryDelayMs: 1,
    });
    await assert.rejects(getter.get('kbs:///default/key/1'), (e: unknown) => {
      assert.ok(e instanceof KmsError);
      assert.equal(e.code, 'KBS_UNREACHABLE');
      assert.match(e.message, /ECONNREFUSED/);
      return true;
    });
    getter.close();
  });

  test('a request that gets no answer times out as KBS_UNREACHABLE', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const c = new KbsClient({
      url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      evidence: { primary: new SampleAttester(), additional: [] },
      timeoutMs: 200,
      attestAttempts: 1,
    });
    await assert.rejects(c.getResource({ path: 'default/key/1' }), code('KBS_UNREACHABLE'));
    c.close();
    silent.closeAllConnections();
    await new Promise((r) => silent.close(r));
  });
});

describe('IPv6', () => {
  const v6 = new FakeKbs();
  let skip: string | false = false;
  before(async () => {
    try {
      await v6.start('::1');
      v6.resources.set('resource/default/key/1', Buffer.from('six'));
    } catch {
      skip = 'no IPv6 loopback';
    }
  });
  after(async () => {
    if (!skip) await v6.stop();
  });
  test('http://[::1]:port URLs work', async (t) => {
    if (skip) return t.skip(skip);
    const c = client({ url: `${v6.url}/` });
    assert.equal((await c.getResource({ path: 'default/key/1' })).toString(), 'six');
  });
});

describe('URLs', () => {
  test('bad base URLs are INVALID_ARGUMENT', () => {
    for (const u of ['ftp://x', 'not a url', 'http://u:p@host', 'http://host/?q=1']) {
      assert.throws(() => new KbsClient({ url: u }), code('INVALID_ARGUMENT'), u);
    }
  });
  test('a non-certificate extra root is INVALID_ARGUMENT', () => {
    assert.throws(
      () => new KbsClient({ url: 'https://127.0.0.1:1', extraRootCertsPem: 'junk' }),
      code('INVALID_ARGUMENT'),
    );
  });
});
