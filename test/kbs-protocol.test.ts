import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decryptResourceResponse } from '../src/crypto/jwe.js';
import {
  b64u,
  sampleAttest,
  sampleAttestBody,
  startTestKbs,
  type TestKbs,
  teeKeyPair,
} from '../src/kbs/testing/harness.js';

const T = 'https://github.com/confidential-containers/kbs/errors/';

async function expectError(
  p: Promise<{ status: number; json(): unknown }>,
  status: number,
  type: string,
  detail?: string | RegExp,
) {
  const r = await p;
  assert.equal(r.status, status, `status for ${type}`);
  const body = r.json() as { type: string; detail: string };
  assert.equal(body.type, T + type);
  if (typeof detail === 'string') assert.equal(body.detail, detail);
  else if (detail) assert.match(body.detail, detail);
  return body;
}

describe('KBS RCAR and resources over HTTPS', () => {
  let kbs: TestKbs;
  before(async () => {
    kbs = await startTestKbs();
    const r = await kbs.request('POST', '/kbs/v0/resource/one/two/three', { body: Buffer.from('shhhhhhh') });
    assert.equal(r.status, 200);
  });
  after(() => kbs.stop());

  test('healthz, metrics, unknown plugins and built-ins with the wrong method', async () => {
    assert.equal((await kbs.request('GET', '/healthz')).status, 200);
    const m = await kbs.request('GET', '/metrics');
    assert.equal(m.status, 200);
    assert.match(m.text(), /kbs_request_duration_seconds/);
    assert.equal((await kbs.request('POST', '/metrics')).status, 405);
    await expectError(kbs.request('GET', '/kbs/v0/auth'), 404, 'PluginNotFound', 'Plugin auth not found');
    await expectError(kbs.request('GET', '/kbs/v0/nope/x'), 404, 'PluginNotFound', 'Plugin nope not found');
    await expectError(kbs.request('GET', '/kbs/v0/'), 404, 'PluginNotFound', 'Plugin  not found');
  });

  test('auth: challenge shape, cookie, version rules', async () => {
    const r = await kbs.request('POST', '/kbs/v0/auth', {
      body: { version: '0.4.0', tee: 'sample', 'extra-params': '' },
    });
    assert.equal(r.status, 200);
    const c = r.json() as { nonce: string; 'extra-params': unknown };
    assert.equal(c['extra-params'], '');
    assert.equal(Buffer.from(c.nonce, 'base64').length, 32);
    assert.equal(c.nonce.length, 44);
    assert.match(
      String(r.headers['set-cookie']),
      /^kbs-session-id=[0-9a-f]{32}; Expires=\w{3}, \d\d \w{3} \d{4} /,
    );
    for (const v of ['0.3.0', '0.4.0-rc1', 'x']) {
      await expectError(
        kbs.request('POST', '/kbs/v0/auth', { body: { version: v, tee: 'sample', 'extra-params': '' } }),
        401,
        'AttestationError',
        `Attestation error: RCAR handshake Auth failed: KBS Client Protocol Version Mismatch: expect =0.4.0 while the request is ${v}`,
      );
    }
    const ok = await kbs.request('POST', '/kbs/v0/auth', {
      body: { version: '0.4.0+abc', tee: 'sample', 'extra-params': '' },
    });
    assert.equal(ok.status, 200);
    await expectError(
      kbs.request('POST', '/kbs/v0/auth', { body: { version: '0.4.0', tee: 'sample' } }),
      401,
      'AttestationError',
      /extra-params/,
    );
    await expectError(
      kbs.request('POST', '/kbs/v0/auth', { body: { version: '0.4.0', tee: 'bogus', 'extra-params': '' } }),
      401,
      'AttestationError',
    );
    await expectError(kbs.request('POST', '/kbs/v0/auth', { body: '{not json' }), 401, 'AttestationError');
  });

  test('background check: attest, cookie GET, JWE decrypts; re-post returns the stored token', async () => {
    await kbs.request('POST', '/kbs/v0/resource-policy', {
      body: { policy: b64u('data.plugin == "resource"') },
    });
    const tee = teeKeyPair();
    const auth = await kbs.request('POST', '/kbs/v0/auth', {
      body: { version: '0.4.0', tee: 'sample', 'extra-params': '' },
    });
    const cookie = String(auth.headers['set-cookie']?.[0]).split(';')[0];
    const { nonce } = auth.json() as { nonce: string };
    const body = sampleAttestBody(nonce, tee.jwk);
    const a1 = await kbs.request('POST', '/kbs/v0/attest', { body, headers: { cookie } });
    assert.equal(a1.status, 200, a1.text());
    const { token } = a1.json() as { token: string };
    const [h, p] = token
      .split('.')
      .slice(0, 2)
      .map((s) => JSON.parse(Buffer.from(s, 'base64url').toString()));
    assert.equal(h.alg, 'ES256');
    assert.deepEqual(Object.keys(h.jwk).slice(0, 5), ['kty', 'crv', 'alg', 'x', 'y']);
    assert.equal(p.submods.cpu0['ear.status'], 'contraindicated');
    assert.equal(p.submods.cpu0['ear.veraison.annotated-evidence'].sample.launch_digest, 'abcde');
    assert.equal(p.exp - p.iat, 300);
    // Re-posting (even with a different body) returns the same token without re-verifying.
    const a2 = await kbs.request('POST', '/kbs/v0/attest', {
      body: { ...body, 'runtime-data': {} },
      headers: { cookie },
    });
    assert.equal(a2.status, 200);
    assert.equal((a2.json() as { token: string }).token, token);
    const g = await kbs.request('GET', '/kbs/v0/resource/one/two/three', { headers: { cookie } });
    assert.equal(g.status, 200, g.text());
    assert.deepEqual(Object.keys(g.json() as object), [
      'protected',
      'encrypted_key',
      'iv',
      'ciphertext',
      'tag',
    ]);
    assert.equal(decryptResourceResponse(g.json(), tee.privateKey).toString(), 'shhhhhhh');
  });

  test('passport: Bearer token with P-521 and RSA TEE keys', async () => {
    for (const kind of ['P-521', 'RSA'] as const) {
      const tee = teeKeyPair(kind);
      const { token } = await sampleAttest(kbs, tee.jwk);
      const g = await kbs.request('GET', '/kbs/v0/resource/one/two/three', {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(g.status, 200, g.text());
      assert.equal(decryptResourceResponse(g.json(), tee.privateKey).toString(), 'shhhhhhh');
    }
  });

  test('attest rejects: wrong nonce, replayed nonce on a new session, no cookie, unknown session, extra JWK members', async () => {
    const tee = teeKeyPair();
    const auth = async () => {
      const r = await kbs.request('POST', '/kbs/v0/auth', {
        body: { version: '0.4.0', tee: 'sample', 'extra-params': '' },
      });
      return {
        cookie: String(r.headers['set-cookie']?.[0]).split(';')[0],
        nonce: (r.json() as { nonce: string }).nonce,
      };
    };
    const detail = 'Attestation error: RCAR handshake Attest failed';
    const s1 = await auth();
    const wrong = sampleAttestBody(Buffer.alloc(32, 7).toString('base64'), tee.jwk);
    await expectError(
      kbs.request('POST', '/kbs/v0/attest', { body: wrong, headers: { cookie: s1.cookie } }),
      401,
      'AttestationError',
      detail,
    );
    // Evidence made for session 1's nonce, replayed on session 2.
    const replay = sampleAttestBody(s1.nonce, tee.jwk);
    const s2 = await auth();
    await expectError(
      kbs.request('POST', '/kbs/v0/attest', { body: replay, headers: { cookie: s2.cookie } }),
      401,
      'AttestationError',
      detail,
    );
    // Right nonce, report data bound to another nonce.
    const mismatched = sampleAttestBody(s2.nonce, tee.jwk);
    (mismatched['tee-evidence'] as Record<string, unknown>).primary_evidence = (
      sampleAttestBody(s1.nonce, tee.jwk)['tee-evidence'] as Record<string, unknown>
    ).primary_evidence;
    await expectError(
      kbs.request('POST', '/kbs/v0/attest', { body: mismatched, headers: { cookie: s2.cookie } }),
      401,
      'AttestationError',
      detail,
    );
    await expectError(
      kbs.request('POST', '/kbs/v0/attest', { body: replay }),
      401,
      'AttestationError',
      detail,
    );
    await expectError(
      kbs.request('POST', '/kbs/v0/attest', {
        body: replay,
        headers: { cookie: `kbs-session-id=${'0'.repeat(32)}` },
      }),
      401,
      'AttestationError',
      detail,
    );
    // Extra JWK members are dropped by the server's parser, so evidence that hashed them mismatches.
    const s3 = await auth();
    const withKid = { ...tee.jwk, kid: 'k1' } as unknown as typeof tee.jwk;
    const extra = sampleAttestBody(s3.nonce, withKid);
    await expectError(
      kbs.request('POST', '/kbs/v0/attest', { body: extra, headers: { cookie: s3.cookie } }),
      401,
      'AttestationError',
      detail,
    );
    await expectError(
      kbs.request('POST', '/kbs/v0/attest', { body: '[]', headers: { cookie: s3.cookie } }),
      401,
      'AttestationError',
      detail,
    );
    // init-data must be TOML.
    const s4 = await auth();
    const bad = { ...sampleAttestBody(s4.nonce, tee.jwk), 'init-data': { format: 'json', body: '{}' } };
    await expectError(
      kbs.request('POST', '/kbs/v0/attest', { body: bad, headers: { cookie: s4.cookie } }),
      401,
      'AttestationError',
      detail,
    );
  });

  test('resource GET: no credentials, bad tokens, bad paths, missing resources', async () => {
    await expectError(
      kbs.request('GET', '/kbs/v0/resource/one/two/three'),
      401,
      'TokenNotFound',
      'Attestation Token not found',
    );
    await expectError(kbs.request('GET', '/kbs/v0/resource'), 401, 'TokenNotFound');
    await expectError(
      kbs.request('GET', '/kbs/v0/resource/one/two/three', { headers: { authorization: 'Bearer a.b.c' } }),
      401,
      'TokenVerifierError',
      'Token Verifier error',
    );
    const { token } = await sampleAttest(kbs, teeKeyPair().jwk);
    const bearer = { authorization: `Bearer ${token}` };
    // Tampered claims: signature fails.
    const [h, p, s] = token.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    claims.submods.cpu0['ear.status'] = 'affirming';
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
    await expectError(
      kbs.request('GET', '/kbs/v0/resource/one/two/three', {
        headers: { authorization: `Bearer ${forged}` },
      }),
      401,
      'TokenVerifierError',
    );
    for (const bad of [
      'one/two',
      'one/two/three/four',
      '../two/three',
      'one/../three',
      '.hidden/two/three',
      'one/two/%2e%2e',
      'one//three',
    ]) {
      await expectError(
        kbs.request('GET', `/kbs/v0/resource/${bad}`, { headers: bearer }),
        401,
        'PluginInternalError',
        'Plugin internal error',
      );
    }
    await expectError(
      kbs.request('GET', '/kbs/v0/resource/one/two/absent', { headers: bearer }),
      401,
      'PluginInternalError',
    );
    await expectError(
      kbs.request('GET', '/kbs/v0/resource', { headers: bearer }),
      401,
      'PluginInternalError',
    );
  });

  test('oversized body gives 413, malformed JSON bodies the endpoint error', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024 + 1, 0x61);
    const r = await kbs.request('POST', '/kbs/v0/resource/one/two/big', { body: big });
    assert.equal(r.status, 413);
    await expectError(
      kbs.request('POST', '/kbs/v0/resource-policy', { body: '{' }),
      401,
      'ParsePolicyError',
      'Failed to parse policy: Illegal SetPolicy Request Json',
    );
    await expectError(
      kbs.request('POST', '/kbs/v0/resource-policy', { body: {} }),
      401,
      'ParsePolicyError',
      'Failed to parse policy: No `policy` field inside SetPolicy Request Json',
    );
    await expectError(
      kbs.request('POST', '/kbs/v0/resource-policy', { body: { policy: 1 } }),
      401,
      'ParsePolicyError',
      /not a string/,
    );
    await expectError(
      kbs.request('POST', '/kbs/v0/resource-policy', { body: { policy: 'dHJ1ZQ==' } }),
      401,
      'ParsePolicyError',
      /Failed to decode policy/,
    );
    // The server keeps serving after a 413.
    assert.equal((await kbs.request('GET', '/healthz')).status, 200);
  });
});
