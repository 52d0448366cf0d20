import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decryptResourceResponse, prepareTeeKey } from '../../crypto/jwe.js';
import { teeKeyPair } from '../testing/harness.js';
import { JweFailure, JwePool } from './jwe-pool.js';

test('JWE pool: workers and inline produce decryptable responses; bad keys fail as JweFailure', async () => {
  for (const size of [0, 2]) {
    const pool = new JwePool(size);
    try {
      for (const kind of ['P-256', 'P-521', 'RSA'] as const) {
        const tee = teeKeyPair(kind);
        const key = prepareTeeKey(tee.jwk);
        const bodies = await Promise.all([1, 2, 3].map((i) => pool.encrypt(key, Buffer.from(`secret ${i}`))));
        for (const [i, b] of bodies.entries()) {
          assert.equal(decryptResourceResponse(b, tee.privateKey).toString(), `secret ${i + 1}`);
        }
      }
      const offCurve = prepareTeeKey({ ...teeKeyPair().jwk, y: Buffer.alloc(32, 1).toString('base64url') });
      await assert.rejects(pool.encrypt(offCurve, Buffer.from('x')), JweFailure);
    } finally {
      await pool.close();
    }
  }
});
