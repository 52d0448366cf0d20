import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { decodeB64U, decodeStd, encodeB64U, encodeStd } from './base64.js';
import { CryptoError } from './errors.js';

const rejects = (f: () => unknown) =>
  assert.throws(f, (e: unknown) => e instanceof CryptoError && e.code === 'BASE64_INVALID');

test('base64url: canonical input decodes', () => {
  assert.equal(decodeB64U('QQ').toString(), 'A');
  assert.equal(decodeB64U('').length, 0);
  assert.deepEqual(decodeB64U('-_8'), Buffer.from([0xfb, 0xff]));
});

test('base64url: rejects padding, std alphabet, whitespace, len%4==1, non-canonical tails', () => {
  for (const bad of ['QQ==', 'QQ=', '+/8', 'Q Q', 'QQ\n', 'QUJDR', 'QR', 'QUJ', 'é'])
    rejects(() => decodeB64U(bad));
});

test('standard base64: requires padding and rejects url alphabet and bad tails', () => {
  assert.equal(decodeStd('a2V5MQ==').toString(), 'key1');
  assert.equal(decodeStd('').length, 0);
  for (const bad of ['a2V5MQ', 'a2V5MQ=', 'a2V5M-==', 'a2V5MR==', 'a2V5 MQ==', '====', 'QQ=A', 'QUJD=AAA']) {
    rejects(() => decodeStd(bad));
  }
});

test('property: encode/decode round trip, and decoders only throw CryptoError', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      assert.deepEqual(new Uint8Array(decodeB64U(encodeB64U(b))), b);
      assert.deepEqual(new Uint8Array(decodeStd(encodeStd(b))), b);
    }),
  );
  fc.assert(
    fc.property(fc.string({ maxLength: 40 }), (s) => {
      for (const f of [decodeB64U, decodeStd]) {
        try {
          const out = f(s);
          // Whatever decodes must be the canonical form of its bytes.
          assert.equal(f === decodeB64U ? encodeB64U(out) : encodeStd(out), s);
        } catch (e) {
          assert.ok(e instanceof CryptoError, String(e));
        }
      }
    }),
  );
});

test('errors name the offset of the first bad symbol', () => {
  assert.throws(() => decodeB64U('QUJD+A', 'JWS header'), /JWS header: invalid character at offset 4/);
  assert.throws(() => decodeStd('QUJDé===', 'iv'), /iv: bad padding|iv: invalid character at offset 4/);
  assert.throws(() => decodeStd('QU\nD', 'iv'), /iv: invalid character at offset 2/);
});

test('property: near-alphabet strings decode only when canonical, and to the bytes Buffer reads', () => {
  const chars = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/= \n'];
  const near = fc.array(fc.constantFrom(...chars), { maxLength: 24 }).map((a) => a.join(''));
  fc.assert(
    fc.property(near, (s) => {
      for (const [f, enc, encode] of [
        [decodeB64U, 'base64url', encodeB64U],
        [decodeStd, 'base64', encodeStd],
      ] as const) {
        let out: Buffer | undefined;
        try {
          out = f(s);
        } catch (e) {
          assert.ok(e instanceof CryptoError && e.code === 'BASE64_INVALID', String(e));
        }
        if (out) {
          assert.equal(encode(out), s);
          assert.deepEqual(out, Buffer.from(s, enc));
        }
      }
    }),
    { numRuns: 3000 },
  );
});
