import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { decryptResourceResponse } from '../src/crypto/jwe.js';
import { initKbs } from '../src/kbs/init/init.js';
import { startKbs } from '../src/kbs/server.js';
import {
  b64u,
  sampleAttest,
  sampleAttestBody,
  signJwt,
  startTestKbs,
  teeKeyPair,
} from '../src/kbs/testing/harness.js';

const T = 'https://github.com/confidential-containers/kbs/errors/';
const claimsOf = (t: string) => JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString());

test('expired session and expired token are refused (injected clock)', async () => {
  let now = Date.now();
  const kbs = await startTestKbs({ start: { clock: () => now } });
  try {
    await kbs.request('POST', '/kbs/v0/resource-policy', { body: { policy: b64u('true') } });
    await kbs.request('POST', '/kbs/v0/resource/a/b/c', { body: 'v' });
    const tee = teeKeyPair();
    const auth = await kbs.request('POST', '/kbs/v0/auth', {
      body: { version: '0.4.0', tee: 'sample', 'extra-params': '' },
    });
    const cookie = String(auth.headers['set-cookie']?.[0]).split(';')[0];
    const { nonce } = auth.json() as { nonce: string };
    now += 5 * 60_000 + 1;
    const late = await kbs.request('POST', '/kbs/v0/attest', {
      body: sampleAttestBody(nonce, tee.jwk),
      headers: { cookie },
    });
    assert.equal(late.status, 401);
    assert.equal((late.json() as { type: string }).type, `${T}AttestationError`);

    const { token, cookie: c2 } = await sampleAttest(kbs, tee.jwk);
    assert.equal(
      (await kbs.request('GET', '/kbs/v0/resource/a/b/c', { headers: { cookie: c2 } })).status,
      200,
    );
    now += 5 * 60_000 + 1; // session gone; token still within its 60 s leeway
    const noSession = await kbs.request('GET', '/kbs/v0/resource/a/b/c', { headers: { cookie: c2 } });
    assert.equal((noSession.json() as { type: string }).type, `${T}TokenNotFound`);
    assert.equal(
      (await kbs.request('GET', '/kbs/v0/resource/a/b/c', { headers: { authorization: `Bearer ${token}` } }))
        .status,
      200,
    );
    now += 61_000;
    const expired = await kbs.request('GET', '/kbs/v0/resource/a/b/c', {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal((expired.json() as { type: string }).type, `${T}TokenVerifierError`);
  } finally {
    await kbs.stop();
  }
});

test('a token is bound to its TEE key: swapping the key breaks the signature; a stolen token is useless', async () => {
  const kbs = await startTestKbs();
  try {
    await kbs.request('POST', '/kbs/v0/resource-policy', { body: { policy: b64u('true') } });
    await kbs.request('POST', '/kbs/v0/resource/a/b/c', { body: 'v' });
    const victim = teeKeyPair();
    const thief = teeKeyPair();
    const { token } = await sampleAttest(kbs, victim.jwk);
    const [h, p, s] = token.split('.');
    const c = claimsOf(token);
    c.submods.cpu0['ear.veraison.annotated-evidence'].runtime_data_claims['tee-pubkey'] = thief.jwk;
    const swapped = `${h}.${Buffer.from(JSON.stringify(c)).toString('base64url')}.${s}`;
    const r = await kbs.request('GET', '/kbs/v0/resource/a/b/c', {
      headers: { authorization: `Bearer ${swapped}` },
    });
    assert.equal((r.json() as { type: string }).type, `${T}TokenVerifierError`);
    void p;
    // Self-signed token with the thief's key in the header: not trusted (insecure_header_jwk is off).
    const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...k.publicKey.export({ format: 'jwk' }), alg: 'ES256' };
    const self = signJwt(k.privateKey, 'ES256', { ...c, exp: Math.floor(Date.now() / 1000) + 300 }, { jwk });
    const r2 = await kbs.request('GET', '/kbs/v0/resource/a/b/c', {
      headers: { authorization: `Bearer ${self}` },
    });
    assert.equal((r2.json() as { type: string }).type, `${T}TokenVerifierError`);
    const stolen = await kbs.request('GET', '/kbs/v0/resource/a/b/c', {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(stolen.status, 200);
    assert.throws(() => decryptResourceResponse(stolen.json(), thief.privateKey));
    assert.equal(decryptResourceResponse(stolen.json(), victim.privateKey).toString(), 'v');
  } finally {
    await kbs.stop();
  }
});

test('the generated token signer persists in storage across restarts (SQLite)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kbs-restart-'));
  try {
    const cfg = {
      storage_backend: { storage_type: 'Sqlite', backends: { sqlite: { path: join(dir, 'kbs.sqlite') } } },
    };
    const tee = teeKeyPair();
    const k1 = await startTestKbs({ dir, config: cfg });
    await k1.request('POST', '/kbs/v0/resource-policy', { body: { policy: b64u('true') } });
    await k1.request('POST', '/kbs/v0/resource/a/b/c', { body: 'persisted' });
    const { token } = await sampleAttest(k1, tee.jwk);
    await k1.stop();
    const k2 = await startTestKbs({ dir, config: cfg });
    try {
      const { token: t2 } = await sampleAttest(k2, tee.jwk);
      const jwk1 = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()).jwk;
      const jwk2 = JSON.parse(Buffer.from(t2.split('.')[0], 'base64url').toString()).jwk;
      assert.deepEqual(jwk1, jwk2);
      // The first server's token is still accepted by the restarted server.
      const r = await k2.request('GET', '/kbs/v0/resource/a/b/c', {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(r.status, 200, r.text());
      assert.equal(decryptResourceResponse(r.json(), tee.privateKey).toString(), 'persisted');
    } finally {
      await k2.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('kbs init writes a working TLS config; passport: a resource-only KBS trusts the signer certificate', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kbs-init-'));
  try {
    const r = initKbs({ dir, port: 0 });
    assert.match(r.nextSteps, /kbs -c .*kbs-config\.toml/);
    for (const f of ['tls.key', 'admin.key', 'admin-token', 'token-signer.key', 'kbs-config.toml']) {
      assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
    }
    assert.throws(() => initKbs({ dir }), /already holds/);
    const issuer = await startKbs(r.configPath, { logger: 'off' });
    const tlsCa = readFileSync(join(dir, 'tls.crt'), 'utf8');
    const adminToken = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
    const agent = new https.Agent({ ca: tlsCa, keepAlive: true });
    const call = (
      base: string,
      method: string,
      path: string,
      body?: string,
      headers: Record<string, string> = {},
    ) =>
      new Promise<{ status: number; text: string; cookie?: string }>((resolve, reject) => {
        const u = new URL(base);
        const req = https.request(
          {
            method,
            hostname: u.hostname,
            port: u.port,
            path,
            agent,
            headers: { 'content-type': 'application/json', ...headers },
          },
          (res) => {
            let text = '';
            res.on('data', (c) => (text += c));
            res.on('end', () =>
              resolve({
                status: res.statusCode!,
                text,
                cookie: res.headers['set-cookie']?.[0]?.split(';')[0],
              }),
            );
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    try {
      assert.match(issuer.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const auth = { authorization: `Bearer ${adminToken}` };
      assert.equal(
        (await call(issuer.url, 'POST', '/kbs/v0/resource/one/two/three', 'init-secret', auth)).status,
        200,
      );
      assert.equal(
        (await call(issuer.url, 'POST', '/kbs/v0/resource-policy', JSON.stringify({ policy: b64u('true') })))
          .status,
        401,
      );
      const tee = teeKeyPair('RSA');
      const a = await call(
        issuer.url,
        'POST',
        '/kbs/v0/auth',
        JSON.stringify({ version: '0.4.0', tee: 'sample', 'extra-params': '' }),
      );
      const { nonce } = JSON.parse(a.text);
      const att = await call(
        issuer.url,
        'POST',
        '/kbs/v0/attest',
        JSON.stringify(sampleAttestBody(nonce, tee.jwk)),
        { cookie: a.cookie! },
      );
      assert.equal(att.status, 200, att.text);
      const { token } = JSON.parse(att.text);
      const hdr = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());
      assert.equal(hdr.jwk.x5c.length, 1);

      // A passport resource KBS: no AS, plain HTTP, trusts the issuer's signer certificate.
      const res = await startTestKbs({
        insecureHttp: true,
        noAttestationService: true,
        config: { attestation_token: { trusted_certs_paths: [join(dir, 'token-signer.crt')] } },
      });
      try {
        assert.equal((await res.request('POST', '/kbs/v0/auth', { body: {} })).status, 404);
        await res.request('POST', '/kbs/v0/resource-policy', {
          body: { policy: b64u('data.plugin == "resource"') },
        });
        await res.request('POST', '/kbs/v0/resource/one/two/three', { body: 'passport-secret' });
        const g = await res.request('GET', '/kbs/v0/resource/one/two/three', {
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(g.status, 200, g.text());
        assert.equal(decryptResourceResponse(g.json(), tee.privateKey).toString(), 'passport-secret');
        // A token from another issuer (a different signer) is refused.
        const other = await startTestKbs();
        try {
          const { token: foreign } = await sampleAttest(other, teeKeyPair().jwk);
          const f = await res.request('GET', '/kbs/v0/resource/one/two/three', {
            headers: { authorization: `Bearer ${foreign}` },
          });
          assert.equal((f.json() as { type: string }).type, `${T}TokenVerifierError`);
        } finally {
          await other.stop();
        }
      } finally {
        await res.stop();
      }
    } finally {
      agent.destroy();
      await issuer.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('trusted_jwk_sets: a token with a kid verifies against the configured JWKS', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kbs-jwks-'));
  try {
    const k = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pub = { ...createPublicKey(k.privateKey).export({ format: 'jwk' }), kid: 'as-1', alg: 'ES256' };
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [pub] }));
    const kbs = await startTestKbs({
      noAttestationService: true,
      config: { attestation_token: { trusted_jwk_sets: [join(dir, 'jwks.json')] } },
    });
    try {
      await kbs.request('POST', '/kbs/v0/resource-policy', { body: { policy: b64u('true') } });
      await kbs.request('POST', '/kbs/v0/resource/a/b/c', { body: 'jwks' });
      const tee = teeKeyPair();
      const exp = Math.floor(Date.now() / 1000) + 60;
      const good = signJwt(
        createPrivateKey(k.privateKey.export({ format: 'pem', type: 'pkcs8' })),
        'ES256',
        { exp, 'tee-pubkey': tee.jwk },
        { kid: 'as-1' },
      );
      const r = await kbs.request('GET', '/kbs/v0/resource/a/b/c', {
        headers: { authorization: `Bearer ${good}` },
      });
      assert.equal(r.status, 200, r.text());
      assert.equal(decryptResourceResponse(r.json(), tee.privateKey).toString(), 'jwks');
      const noExp = signJwt(k.privateKey, 'ES256', { 'tee-pubkey': tee.jwk }, { kid: 'as-1' });
      assert.equal(
        (
          await kbs.request('GET', '/kbs/v0/resource/a/b/c', {
            headers: { authorization: `Bearer ${noExp}` },
          })
        ).status,
        401,
      );
      const unknownKid = signJwt(k.privateKey, 'ES256', { exp, 'tee-pubkey': tee.jwk }, { kid: 'as-2' });
      assert.equal(
        (
          await kbs.request('GET', '/kbs/v0/resource/a/b/c', {
            headers: { authorization: `Bearer ${unknownKid}` },
          })
        ).status,
        401,
      );
    } finally {
      await kbs.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
