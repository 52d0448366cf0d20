import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KbsClientError } from './errors.js';
import { AttestationToken, decodeTokenClaims } from './token.js';

const b64u = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const jwt = (claims: unknown) => `${b64u({ alg: 'ES256' })}.${b64u(claims)}.c2ln`;
const invalid = (e: unknown) => e instanceof KbsClientError && e.code === 'TOKEN_INVALID';

test('claims are decoded without verification and exp becomes epoch ms', () => {
  const pk = { kty: 'EC', crv: 'P-256', alg: 'ECDH-ES+A256KW', x: 'a', y: 'b' };
  const t = new AttestationToken(
    jwt({
      exp: 1700000000,
      submods: { cpu0: { 'ear.veraison.annotated-evidence': { runtime_data_claims: { 'tee-pubkey': pk } } } },
    }),
  );
  assert.equal(t.expiresAt, 1700000000_000);
  assert.deepEqual(t.teePubkey(), pk);
  assert.equal(new AttestationToken(jwt({})).expiresAt, undefined);
});

test('malformed tokens are TOKEN_INVALID and the message never echoes the token', () => {
  for (const bad of [
    '',
    'a.b',
    'a.b.c.d',
    `${b64u({})}.!!!.x`,
    `${b64u({})}.${b64u([1])}.x`,
    jwt({ exp: '1' }),
    jwt({ nbf: null }),
  ]) {
    assert.throws(() => decodeTokenClaims(bad), invalid, bad);
    try {
      decodeTokenClaims(bad);
    } catch (e) {
      if (bad.length > 3) assert.ok(!(e as Error).message.includes(bad));
    }
  }
});
