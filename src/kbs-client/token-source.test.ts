import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { KbsClientError } from './errors.js';
import { TeeKeyPair } from './tee-key.js';
import { AttestationToken } from './token.js';
import { CachingTokenSource, grantFromAaToken, StaticTokenSource, type TokenGrant } from './token-source.js';

const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
const b64u = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const token = (exp?: number) =>
  new AttestationToken(`${b64u({ alg: 'ES256' })}.${b64u(exp ? { exp } : {})}.c2ln`);

test('one grant serves every caller until near expiry; concurrent callers share one obtain', async () => {
  let now = 1_000_000;
  let obtained = 0;
  const src = new CachingTokenSource(
    async () => {
      obtained++;
      await new Promise((r) => setImmediate(r));
      return { token: token(), teeKey: key, validUntil: now + 300_000 } satisfies TokenGrant;
    },
    { now: () => now },
  );
  const first = await Promise.all(Array.from({ length: 20 }, () => src.acquire()));
  assert.equal(obtained, 1);
  assert.ok(first.every((a) => a.fresh && a.grant === first[0].grant));
  for (let i = 0; i < 100; i++) assert.equal((await src.acquire()).fresh, false);
  assert.equal(obtained, 1);
  now += 300_000 - 10_001; // just outside the 10 s renewal margin
  assert.equal((await src.acquire()).fresh, false);
  now += 2;
  assert.equal((await src.acquire()).fresh, true);
  assert.equal(obtained, 2);
});

test('invalidate drops only the rejected grant; short-lived grants use a proportional margin', async () => {
  const now = 0;
  const src = new CachingTokenSource(async () => ({ token: token(), teeKey: key, validUntil: now + 8_000 }), {
    now: () => now,
  });
  const a = await src.acquire();
  // Lifetime 8 s: margin capped at 2 s, so the grant is still usable.
  assert.equal((await src.acquire()).fresh, false);
  assert.equal(src.invalidate({ ...a.grant }), true);
  assert.equal((await src.acquire()).grant, a.grant);
  src.invalidate(a.grant);
  assert.notEqual((await src.acquire()).grant, a.grant);
});

test('a failed obtain is not cached', async () => {
  let n = 0;
  const src = new CachingTokenSource(async () => {
    if (n++ === 0) throw new KbsClientError('KBS_UNREACHABLE', 'down');
    return { token: token(), teeKey: key };
  });
  await assert.rejects(src.acquire(), KbsClientError);
  assert.equal((await src.acquire()).fresh, true);
});

test('a static source cannot renew', async () => {
  const g = { token: token(), teeKey: key };
  const src = new StaticTokenSource(g);
  assert.deepEqual(await src.acquire(), { grant: g, fresh: false });
  assert.equal(src.invalidate(), false);
});

test('AA GetToken answers become grants', async () => {
  const k = await TeeKeyPair.generate('P-256');
  const raw = `${b64u({ alg: 'ES256' })}.${b64u({ exp: 2_000_000_000 })}.c2ln`;
  const g = grantFromAaToken(JSON.stringify({ token: raw, tee_keypair: k.toPem() }));
  assert.equal(g.token.raw, raw);
  assert.equal(g.validUntil, 2_000_000_000_000);
  assert.ok(TeeKeyPair.fromKeyObject(g.teeKey).matches(k.publicJwk));
  assert.throws(
    () => grantFromAaToken('{"token":1}'),
    (e: unknown) => e instanceof KbsClientError && e.code === 'TOKEN_INVALID',
  );
  assert.throws(
    () => grantFromAaToken('nope'),
    (e: unknown) => e instanceof KbsClientError && e.code === 'TOKEN_INVALID',
  );
});
