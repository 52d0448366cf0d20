import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { EarError } from './errors.js';
import { decodeJws, verifyJwsSignature } from './jws.js';
import { EarSigner, earClaims } from './token.js';
import { statusOf, tierOf, trustVectorFrom } from './trust-vector.js';

test('AR4SI tiers and worst-tier status', () => {
  for (const [v, t] of [
    [0, 'none'],
    [1, 'none'],
    [-1, 'none'],
    [2, 'affirming'],
    [-32, 'affirming'],
    [31, 'affirming'],
    [32, 'warning'],
    [-96, 'warning'],
    [95, 'warning'],
    [96, 'contraindicated'],
    [-97, 'contraindicated'],
    [127, 'contraindicated'],
    [-128, 'contraindicated'],
  ] as const) {
    assert.equal(tierOf(v), t, String(v));
  }
  assert.equal(
    statusOf(trustVectorFrom({ executables: 33, hardware: 97, configuration: 36 })),
    'contraindicated',
  );
  assert.equal(statusOf(trustVectorFrom({ executables: 3, hardware: 2, configuration: 2 })), 'affirming');
  assert.equal(statusOf(trustVectorFrom(undefined)), 'none');
  for (const bad of [{}, { nope: 1 }, { hardware: 128 }, { hardware: 1.5 }, { hardware: '2' }]) {
    assert.throws(() => trustVectorFrom(bad), EarError);
  }
});

test('EAR signer: ES256 header with jwk, claims order, verifiable', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const s = new EarSigner(privateKey);
  const claims = earClaims({
    profile: 'p',
    developer: 'd',
    build: 'b',
    issuer: 'i',
    submods: {},
    iat: 100,
    durationMin: 5,
  });
  assert.deepEqual(Object.keys(claims), ['eat_profile', 'iat', 'ear.verifier-id', 'submods', 'exp', 'iss']);
  assert.equal(claims.exp, 400);
  const t = s.sign(claims);
  const d = decodeJws(t);
  assert.deepEqual(Object.keys(d.header), ['alg', 'typ', 'jwk']);
  assert.deepEqual(Object.keys(d.header.jwk as object), ['kty', 'crv', 'alg', 'x', 'y']);
  assert.ok(verifyJwsSignature('ES256', privateKey, d));
  assert.ok(s.isOwnKey(d.header.jwk));
  assert.throws(() => new EarSigner(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey), EarError);
  assert.throws(() => decodeJws('a.b'), EarError);
});
