import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { KbsAdminClient, sampleReferenceValueMessage } from './admin.js';
import { mintAdminToken, parseTtl } from './admin-token.js';
import { KbsClientError } from './errors.js';

/* The admin client against a loopback server that records what it receives. */

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

let server: Server;
let url = '';
let seen: Seen[] = [];
let reply: { status: number; body: string } = { status: 200, body: '' };

before(async () => {
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
    res.writeHead(reply.status, { 'content-type': 'application/json' });
    res.end(reply.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});
beforeEach(() => {
  seen = [];
  reply = { status: 200, body: '' };
});

const admin = () => new KbsAdminClient({ url, adminToken: 'S3CR3T-ADMIN-TOKEN\n' });

test('set/delete resource send the raw bytes with the bearer token', async () => {
  const c = admin();
  const secret = Buffer.from([0, 1, 2, 0xff]);
  await c.setResource('default/key/1', secret);
  await c.deleteResource('default/key/1');
  c.close();
  assert.equal(seen[0].method, 'POST');
  assert.equal(seen[0].url, '/kbs/v0/resource/default/key/1');
  assert.equal(seen[0].headers['content-type'], 'application/octet-stream');
  assert.equal(seen[0].headers.authorization, 'Bearer S3CR3T-ADMIN-TOKEN');
  assert.deepEqual(seen[0].body, secret);
  assert.equal(seen[1].method, 'DELETE');
  await assert.rejects(
    admin().setResource('../x/y', secret),
    (e: unknown) => e instanceof KbsClientError && e.code === 'INVALID_ARGUMENT',
  );
});

test('policies are uploaded as B64U without padding', async () => {
  const c = admin();
  const rego = 'package policy\ndefault allow := true\n??>';
  await c.setResourcePolicy(rego);
  await c.setAttestationPolicy(rego);
  await c.setAttestationPolicy(rego, { id: 'default_gpu' });
  c.close();
  const p = JSON.parse(seen[0].body.toString());
  assert.deepEqual(Object.keys(p), ['policy']);
  assert.doesNotMatch(p.policy, /[=+/]/);
  assert.equal(Buffer.from(p.policy, 'base64url').toString(), rego);
  assert.equal(seen[0].url, '/kbs/v0/resource-policy');
  const a = JSON.parse(seen[1].body.toString());
  assert.deepEqual(a, { type: 'rego', policy_id: 'default_cpu', policy: p.policy });
  assert.equal(JSON.parse(seen[2].body.toString()).policy_id, 'default_gpu');
});

test('sample reference values follow the RVPS message format', async () => {
  const decode = (m: string) => {
    const o = JSON.parse(m);
    assert.equal(o.version, '0.1.0');
    assert.equal(o.type, 'sample');
    return JSON.parse(Buffer.from(o.payload, 'base64').toString());
  };
  assert.deepEqual(decode(sampleReferenceValueMessage('svn', '1')), { svn: ['1'] });
  assert.deepEqual(
    decode(sampleReferenceValueMessage('major_version', '1', { as: 'integer', single: true })),
    { major_version: 1 },
  );
  assert.deepEqual(decode(sampleReferenceValueMessage('debug', 'false', { as: 'bool' })), { debug: [false] });
  assert.throws(() => sampleReferenceValueMessage('x', 'one', { as: 'integer' }), KbsClientError);
  const c = admin();
  await c.setSampleReferenceValue('svn', '1');
  reply = { status: 200, body: '["1"]' };
  assert.deepEqual(await c.getReferenceValue('svn'), ['1']);
  c.close();
  assert.equal(seen[0].url, '/kbs/v0/reference-value');
  assert.equal(seen[1].url, '/kbs/v0/reference-value/svn');
});

test('admin denials are ADMIN_DENIED and carry the KBS detail; other failures KBS_ERROR', async () => {
  const c = admin();
  reply = {
    status: 401,
    body: JSON.stringify({
      type: 'https://github.com/confidential-containers/kbs/errors/AdminAuthAccess',
      detail:
        'admin access denied for endpoint resource-policy: Admin access denied: Cannot verify token with any of the issuers',
    }),
  };
  await assert.rejects(c.setResourcePolicy('x'), (e: unknown) => {
    assert.ok(e instanceof KbsClientError);
    assert.equal(e.code, 'ADMIN_DENIED');
    assert.match(e.message, /Cannot verify token with any of the issuers/);
    assert.doesNotMatch(e.message, /S3CR3T/);
    return true;
  });
  reply = {
    status: 401,
    body: JSON.stringify({ type: 'x/ParsePolicyError', detail: 'Failed to parse policy: bad' }),
  };
  await assert.rejects(
    c.setResourcePolicy('x'),
    (e: unknown) => e instanceof KbsClientError && e.code === 'KBS_ERROR' && e.kbsType === 'ParsePolicyError',
  );
  c.close();
});

test('anonymous admin calls send no Authorization header', async () => {
  const c = new KbsAdminClient({ url });
  reply = { status: 200, body: '["resource-policy"]' };
  assert.deepEqual(await c.getResourcePolicy(), ['resource-policy']);
  c.close();
  assert.equal(seen[0].headers.authorization, undefined);
});

test('mintAdminToken signs EdDSA/ES256/RS256 JWTs with role, iat, exp', async () => {
  for (const [type, opts, alg] of [
    ['ed25519', {}, 'EdDSA'],
    ['ec', { namedCurve: 'prime256v1' }, 'ES256'],
    ['rsa', { modulusLength: 2048 }, 'RS256'],
  ] as const) {
    const { privateKey, publicKey } = generateKeyPairSync(type as 'ed25519', opts as object);
    const token = await mintAdminToken({
      privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }),
      role: 'admin',
      ttlSeconds: 600,
      issuer: 'issuer',
      audience: ['kbs'],
    });
    assert.deepEqual(decodeProtectedHeader(token), { alg, typ: 'JWT' });
    const { payload } = await jwtVerify(token, publicKey, { issuer: 'issuer', audience: 'kbs' });
    assert.equal(payload.role, 'admin');
    assert.equal(payload.exp! - payload.iat!, 600);
  }
  const ed = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' });
  await assert.rejects(mintAdminToken({ privateKeyPem: ed, role: '', ttlSeconds: 1 }), KbsClientError);
  await assert.rejects(mintAdminToken({ privateKeyPem: ed, role: 'a', ttlSeconds: 0 }), KbsClientError);
  await assert.rejects(mintAdminToken({ privateKeyPem: 'x', role: 'a', ttlSeconds: 1 }), KbsClientError);
});

test('TTL parsing', () => {
  assert.equal(parseTtl('3600'), 3600);
  assert.equal(parseTtl('90s'), 90);
  assert.equal(parseTtl('15m'), 900);
  assert.equal(parseTtl('12h'), 43200);
  assert.equal(parseTtl('30d'), 2_592_000);
  for (const bad of ['', '0', '-1', '1w', '1.5h', 'h'])
    assert.throws(() => parseTtl(bad), KbsClientError, bad);
});
