import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { vector } from '../../test/helpers/paths.js';
import { decodeB64U, encodeB64U } from '../crypto/base64.js';
import { signEs256 } from '../crypto/es256-sign.js';
import { parseP256PrivateJwk } from '../crypto/jwk.js';
import { SealedSecretError } from './errors.js';
import { parsePayload, serializePayload } from './payload.js';
import { sealPayload } from './seal.js';
import {
  parseSealedSecret,
  parseSealedSecretUnverified,
  type VerificationKeyResolver,
  verifySealedSecret,
} from './sealed-secret.js';

const testKeyText = readFileSync(vector('test-key.json'), 'utf8');
const testKey = parseP256PrivateJwk(testKeyText);
const testKey2 = parseP256PrivateJwk(readFileSync(vector('test-key-2.json')));
const fixture = (name: string) => readFileSync(vector('payloads', name), 'utf8');

/** Resolves exactly one kid to one JWK, like a credential directory holding `test-key`. */
const keys = (kid: string, jwk: string): VerificationKeyResolver => ({
  async resolve(k) {
    if (k !== kid) throw new SealedSecretError('KID_UNKNOWN', `unknown kid ${k}`);
    return Buffer.from(jwk);
  },
});
const testKeys = keys('test-key', testKeyText);

const isCode = (code: string) => (e: unknown) => e instanceof SealedSecretError && e.code === code;

const COMPACT: Record<string, [number, string]> = {
  'vault-1.json': [107, 'af811bdb7616c3ecb2da2a6dde121477e08de3e456fd79b36de3730cb18cc94e'],
  'vault-2.json': [119, '3f0143588062166a36c216369b10d68d5b53e00e46631b1c2a6dc352daecb23e'],
  'envelope-1.json': [190, '0fb62d3405706edf2e7085436ad330572b36f37c9f2c12a6359b56b85ef3656c'],
};

test('payload fixtures serialize to the upstream compact bytes and round-trip through sign/verify', async () => {
  for (const [name, [len, sha]] of Object.entries(COMPACT)) {
    const doc = parsePayload(fixture(name));
    const compact = serializePayload(doc);
    assert.equal(Buffer.byteLength(compact), len, name);
    assert.equal(createHash('sha256').update(compact).digest('hex'), sha, name);
    assert.deepEqual(JSON.parse(compact), JSON.parse(fixture(name)));
    const sealed = sealPayload(doc, testKey, 'test-key');
    assert.deepEqual(await verifySealedSecret(sealed, testKeys), doc);
  }
});

test('sealing vault-2 with test-key is deterministic, uses the exact header, and verifies', async () => {
  const doc = parsePayload(fixture('vault-2.json'));
  const a = sealPayload(doc, testKey, 'test-key');
  const b = sealPayload(doc, testKey, 'test-key');
  assert.equal(a, b);
  const [, h, p] = a.split('.');
  assert.equal(decodeB64U(h).toString(), '{"b64":true,"alg":"ES256","kid":"test-key"}');
  assert.equal(decodeB64U(p).toString(), serializePayload(doc));
  assert.ok(a.startsWith('sealed.'));
  await verifySealedSecret(a, testKeys);
});

test('tampering any segment fails verification', async () => {
  const sealed = sealPayload(parsePayload(fixture('vault-2.json')), testKey, 'test-key');
  for (const offset of [50, 200, 250]) {
    const c = sealed[offset] === 'A' ? 'B' : 'A';
    const tampered = sealed.slice(0, offset) + c + sealed.slice(offset + 1);
    await assert.rejects(
      verifySealedSecret(tampered, testKeys),
      (e: unknown) => e instanceof SealedSecretError,
      `offset ${offset}`,
    );
  }
});

test('a signature from another key fails with SIGNATURE_INVALID', async () => {
  const sealed = sealPayload(parsePayload(fixture('vault-2.json')), testKey2, 'test-key');
  await assert.rejects(verifySealedSecret(sealed, testKeys), isCode('SIGNATURE_INVALID'));
});

test('high-S: replacing s by n-s still verifies', async () => {
  const n = BigInt('0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551');
  const sealed = sealPayload(parsePayload(fixture('vault-1.json')), testKey, 'test-key');
  const [pre, h, p, s] = sealed.split('.');
  const sig = decodeB64U(s);
  const other = n - BigInt(`0x${sig.subarray(32).toString('hex')}`);
  const flipped = Buffer.concat([
    sig.subarray(0, 32),
    Buffer.from(other.toString(16).padStart(64, '0'), 'hex'),
  ]);
  const twin = [pre, h, p, encodeB64U(flipped)].join('.');
  assert.notEqual(twin, sealed);
  await verifySealedSecret(twin, testKeys);
});

test('upstream-signed secrets (two of them high-S) verify with the published key', async () => {
  const v = JSON.parse(readFileSync(vector('upstream-signed.json'), 'utf8'));
  for (const s of v.secrets) {
    const doc = await verifySealedSecret(s.sealed, keys(v.kid, JSON.stringify(v.public_jwk)));
    assert.equal(doc.type === 'vault' && doc.name, s.name);
  }
});

test('prefix handling: stripped repeatedly, optional, no whitespace trimming', async () => {
  const sealed = sealPayload(parsePayload(fixture('vault-2.json')), testKey, 'test-key');
  await verifySealedSecret(`sealed.${sealed}`, testKeys);
  await verifySealedSecret(sealed.slice('sealed.'.length), testKeys);
  await assert.rejects(verifySealedSecret(`${sealed}\n`, testKeys), isCode('BAD_FORMAT'));
  await assert.rejects(verifySealedSecret(Buffer.from([0xff, 0xfe]), testKeys), isCode('BAD_FORMAT'));
});

test('strict base64url in every segment', async () => {
  const sealed = sealPayload(parsePayload(fixture('vault-2.json')), testKey, 'test-key');
  const [pre, h, p, s] = sealed.split('.');
  const variants = [
    [pre, `${h}=`, p, s],
    [pre, h, p.replace(/-/g, '+').replace(/_/g, '/').concat('+'), s],
    [pre, h, ` ${p}`, s],
    [pre, h, p, `${s}A`],
    [pre, h, p, s.slice(0, -1) + (s.endsWith('A') ? 'B' : 'A')],
  ];
  for (const parts of variants) {
    await assert.rejects(
      verifySealedSecret(parts.join('.'), testKeys),
      (e: unknown) => e instanceof SealedSecretError,
    );
  }
  assert.throws(() => parseSealedSecret(`${pre}.${h}.${p}`), isCode('BAD_FORMAT'));
});

test('header rules: kid and alg required, non-ES256 rejected after the key lookup, unknown members ignored', async () => {
  const p = encodeB64U(Buffer.from(serializePayload(parsePayload(fixture('vault-2.json')))));
  const withHeader = (h: string) =>
    `sealed.${encodeB64U(Buffer.from(h))}.${p}.${encodeB64U(Buffer.alloc(64, 1))}`;
  assert.throws(() => parseSealedSecret(withHeader('{"alg":"ES256"}')), /Could not find kid/);
  assert.throws(() => parseSealedSecret(withHeader('{"kid":"test-key"}')), /Could not get algorithm/);
  assert.throws(() => parseSealedSecret(withHeader('{"alg":"XX","kid":"test-key"}')), isCode('BAD_FORMAT'));
  assert.throws(
    () => parseSealedSecret(withHeader('{"alg":"ES256","kid":"k","b64":"yes"}')),
    isCode('BAD_FORMAT'),
  );
  let looked = false;
  const spy: VerificationKeyResolver = {
    resolve: async () => {
      looked = true;
      return Buffer.from(testKeyText);
    },
  };
  await assert.rejects(
    verifySealedSecret(withHeader('{"alg":"RS256","kid":"test-key"}'), spy),
    isCode('ALG_UNSUPPORTED'),
  );
  assert.ok(looked, 'the key is resolved before alg is checked, as upstream does');
  const reordered = `{"kid":"test-key", "zzz":[1], "alg":"ES256"}`;
  const h = encodeB64U(Buffer.from(reordered));
  const sig = encodeB64U(signEs256(testKey.d, Buffer.from(`${h}.${p}`)));
  await verifySealedSecret(`sealed.${h}.${p}.${sig}`, testKeys);
});

test('verification keys: non-P-256, missing coordinates and off-curve points are rejected', async () => {
  const sealed = sealPayload(parsePayload(fixture('vault-2.json')), testKey, 'test-key');
  const pub = JSON.parse(testKeyText);
  delete pub.d;
  const bad = [
    { ...pub, crv: 'P-384' },
    { ...pub, kty: 'RSA' },
    { ...pub, x: undefined },
    { ...pub, y: pub.x },
    { ...pub, alg: 'ECDH-ES+A256KW' },
    'not json',
  ];
  for (const jwk of bad) {
    await assert.rejects(
      verifySealedSecret(sealed, keys('test-key', typeof jwk === 'string' ? jwk : JSON.stringify(jwk))),
      isCode('KEY_INVALID'),
    );
  }
  await verifySealedSecret(sealed, keys('test-key', JSON.stringify(pub)));
});

test('skip mode: legacy form padded and unpadded, 3 and 5 parts rejected; default mode rejects legacy', async () => {
  const json = fixture('vault-2.json').trim();
  const unpadded = `sealed.fakejwsheader.${encodeB64U(Buffer.from(json))}.fakesignature`;
  const padded = `sealed.fakejwsheader.${Buffer.from(`${json}\n`).toString('base64')}.fakesignature`;
  assert.ok(padded.includes('='), 'the documentation form is padded');
  for (const s of [unpadded, padded]) {
    assert.equal(parseSealedSecretUnverified(s).type, 'vault');
    await assert.rejects(verifySealedSecret(s, testKeys), isCode('BAD_FORMAT'));
  }
  const signed = sealPayload(parsePayload(fixture('vault-2.json')), testKey2, 'test-key');
  assert.equal(parseSealedSecretUnverified(signed).type, 'vault', 'signature ignored in skip mode');
  assert.throws(() => parseSealedSecretUnverified(signed.slice('sealed.'.length)), isCode('BAD_FORMAT'));
  assert.throws(() => parseSealedSecretUnverified(`sealed.${signed}`), isCode('BAD_FORMAT'));
});
