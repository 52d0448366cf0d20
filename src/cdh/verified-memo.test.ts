import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { vector } from '../../test/helpers/paths.js';
import { parseP256PrivateJwk } from '../crypto/jwk.js';
import { SealedSecretError } from '../sealed/errors.js';
import { parsePayload, type VaultPayload } from '../sealed/payload.js';
import { sealPayload } from '../sealed/seal.js';
import type { VerificationKeyResolver } from '../sealed/sealed-secret.js';
import { VerifiedSecretMemo } from './verified-memo.js';

const keyText = readFileSync(vector('test-key.json'), 'utf8');
const key2Text = readFileSync(vector('test-key-2.json'), 'utf8');
const payload = parsePayload(readFileSync(vector('payloads', 'vault-1.json'), 'utf8')) as VaultPayload;
const sealed = sealPayload(payload, parseP256PrivateJwk(keyText), 'k');

/** One kid whose key can be swapped (a rotation) or removed; counts lookups. */
function rotatingKeys(initial: string | undefined) {
  let jwk = initial;
  const r = {
    lookups: 0,
    set(text: string | undefined) {
      jwk = text;
    },
    resolver: {
      async resolve(kid: string) {
        r.lookups++;
        if (kid !== 'k' || jwk === undefined)
          throw new SealedSecretError('KID_UNKNOWN', `unknown kid ${kid}`);
        return Buffer.from(jwk);
      },
    } satisfies VerificationKeyResolver,
  };
  return r;
}

const isCode = (code: string) => (e: unknown) => e instanceof SealedSecretError && e.code === code;

test('a verified string is served from the memo while its kid names the same key', async () => {
  const keys = rotatingKeys(keyText);
  const memo = new VerifiedSecretMemo();
  const first = await memo.open(sealed, keys.resolver);
  assert.deepEqual(first, payload);
  const again = await memo.open(sealed, keys.resolver);
  assert.equal(again, first, 'the memoised payload object itself');
  assert.equal(keys.lookups, 2, 'the kid is still resolved on a hit');
  assert.ok(Object.isFrozen(again) && Object.isFrozen(again.provider_settings));
  assert.throws(() => {
    (again as { name: string }).name = 'kbs:///default/other/x';
  }, TypeError);
});

test('a rotated key forces a full verification, which then fails or succeeds on its merits', async () => {
  const keys = rotatingKeys(keyText);
  const memo = new VerifiedSecretMemo();
  await memo.open(sealed, keys.resolver);
  keys.set(key2Text);
  await assert.rejects(memo.open(sealed, keys.resolver), isCode('SIGNATURE_INVALID'));
  keys.set(undefined);
  await assert.rejects(memo.open(sealed, keys.resolver), isCode('KID_UNKNOWN'));
  keys.set(keyText);
  assert.deepEqual(await memo.open(sealed, keys.resolver), payload);
});

test('failures are not remembered and a one-byte change is a different string', async () => {
  const keys = rotatingKeys(undefined);
  const memo = new VerifiedSecretMemo();
  await assert.rejects(memo.open(sealed, keys.resolver), isCode('KID_UNKNOWN'));
  assert.equal(memo.size, 0);
  keys.set(keyText);
  await memo.open(sealed, keys.resolver);
  const sig = sealed.lastIndexOf('.') + 1;
  const flipped = sealed.slice(0, sig) + (sealed[sig] === 'A' ? 'B' : 'A') + sealed.slice(sig + 1);
  await assert.rejects(memo.open(flipped, keys.resolver), isCode('SIGNATURE_INVALID'));
  await assert.rejects(memo.open(`${sealed}x`, keys.resolver), SealedSecretError);
  assert.equal(memo.size, 1);
});

test('the memo is bounded in entries and in string length', async () => {
  const keys = rotatingKeys(keyText);
  const memo = new VerifiedSecretMemo(2, 600);
  const k = parseP256PrivateJwk(keyText);
  for (const name of ['a', 'b', 'c']) {
    await memo.open(sealPayload({ ...payload, name: `kbs:///default/x/${name}` }, k, 'k'), keys.resolver);
  }
  assert.equal(memo.size, 2);
  const small = new VerifiedSecretMemo(8, 600);
  const long = sealPayload({ ...payload, annotations: { pad: 'x'.repeat(600) } }, k, 'k');
  const first = await small.open(long, keys.resolver);
  assert.deepEqual(first, { ...payload, annotations: { pad: 'x'.repeat(600) } });
  assert.notEqual(await small.open(long, keys.resolver), first, 'verified again, not remembered');
  assert.equal(small.size, 0);
});
