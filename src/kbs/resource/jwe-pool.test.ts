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

test('JWE pool under load: batches to the worker, overflow on the event loop, every caller gets its own response', async () => {
  const pool = new JwePool(1);
  try {
    const tees = [teeKeyPair('P-256'), teeKeyPair('P-521'), teeKeyPair('RSA')];
    const keys = tees.map((t) => prepareTeeKey(t.jwk));
    const offCurve = prepareTeeKey({ ...teeKeyPair().jwk, y: Buffer.alloc(32, 1).toString('base64url') });
    // More jobs than the worker takes at once: some go in multi-job batches, the rest run inline.
    const n = 120;
    const results = await Promise.allSettled(
      Array.from({ length: n }, (_, i) =>
        pool.encrypt(i % 10 === 7 ? offCurve : keys[i % 3], Buffer.from(`secret ${i}`)),
      ),
    );
    for (const [i, r] of results.entries()) {
      if (i % 10 === 7) {
        assert.equal(r.status, 'rejected', `job ${i}`);
        assert.ok((r as PromiseRejectedResult).reason instanceof JweFailure);
        continue;
      }
      assert.equal(r.status, 'fulfilled', `job ${i}`);
      const body = (r as PromiseFulfilledResult<string>).value;
      assert.equal(decryptResourceResponse(body, tees[i % 3].privateKey).toString(), `secret ${i}`);
    }
    const { workerJobs, batches, eventLoopJobs } = pool.stats;
    assert.equal(workerJobs + eventLoopJobs, n);
    assert.ok(workerJobs > batches, 'the worker received multi-job batches');
    assert.ok(eventLoopJobs > 0, 'the event loop took jobs while the worker was full');
  } finally {
    await pool.close();
  }
});

test('JWE pool: jobs still queued when the pool closes fail as JweFailure', async () => {
  const pool = new JwePool(1);
  const key = prepareTeeKey(teeKeyPair().jwk);
  const settled = Promise.allSettled(
    Array.from({ length: 40 }, (_, i) => pool.encrypt(key, Buffer.from(`s${i}`))),
  );
  await pool.close();
  const results = await settled;
  for (const r of results) {
    if (r.status === 'rejected') assert.ok(r.reason instanceof JweFailure);
  }
  assert.ok(results.some((r) => r.status === 'rejected'));
});
