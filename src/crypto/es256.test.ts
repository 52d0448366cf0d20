import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { vector } from '../../test/helpers/paths.js';
import { decodeB64U, encodeB64U } from './base64.js';
import { publicPointFromScalar, verifyEs256 } from './es256.js';
import { signEs256 } from './es256-sign.js';

const v = JSON.parse(readFileSync(vector('ecdsa-rfc6979.json'), 'utf8'));
const d = Buffer.from(v.private_key_hex, 'hex');
const point = publicPointFromScalar(d);

test('RFC 6979 A.2.5: deterministic signatures without low-S normalization', () => {
  assert.equal(Buffer.from(point.subarray(1, 33)).toString('hex').toUpperCase(), v.public_x_hex);
  for (const c of v.cases) {
    const sig = signEs256(d, Buffer.from(c.message_ascii, 'ascii'));
    assert.equal(encodeB64U(sig), c.signature_b64url, c.message_ascii);
    assert.equal(Buffer.from(sig.subarray(32)).toString('hex').toUpperCase(), c.s_hex);
  }
  assert.equal(v.cases[0].s_is_high, true, 'the sample case is high-S');
});

test('verification accepts both s and n-s, rejects a changed message and out-of-range scalars', () => {
  for (const c of v.cases) {
    const msg = Buffer.from(c.message_ascii, 'ascii');
    assert.ok(verifyEs256(point, msg, decodeB64U(c.signature_b64url)));
    assert.ok(verifyEs256(point, msg, decodeB64U(c.equivalent_other_signature_b64url)));
    assert.ok(!verifyEs256(point, Buffer.from(`${c.message_ascii}!`), decodeB64U(c.signature_b64url)));
  }
  const n = Buffer.from(v.order_n_hex, 'hex');
  assert.ok(!verifyEs256(point, Buffer.from('sample'), Buffer.concat([n, n])));
  assert.ok(!verifyEs256(point, Buffer.from('sample'), Buffer.alloc(64)));
  assert.ok(!verifyEs256(point, Buffer.from('sample'), Buffer.alloc(63, 1)));
});
