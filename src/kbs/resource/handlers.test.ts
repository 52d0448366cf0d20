import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decryptResourceResponse } from '../../crypto/jwe.js';
import { AuditError } from '../audit/errors.js';
import { MemoryAuditLog } from '../audit/memory.js';
import type { AuditEntry, AuditRecord } from '../audit/types.js';
import { MemorySessionStore, MemoryStorage } from '../storage/memory.js';
import { b64u, sampleAttest, startTestKbs, type TestKbs, teeKeyPair } from '../testing/harness.js';

/*
 * The per-connection token memo must not change any outcome: every request on a kept connection still
 * has its expiry checked, and a different Authorization header is parsed and verified afresh.
 */

const PATH = '/kbs/v0/resource/default/key/1';

/** Allows resource reads, stores 'top secret' at PATH and attests a fresh TEE key (sample TEE). */
async function storeAndAttest(kbs: TestKbs) {
  const policy = b64u('data.plugin == "resource"');
  assert.equal((await kbs.request('POST', '/kbs/v0/resource-policy', { body: { policy } })).status, 200);
  assert.equal(
    (await kbs.request('POST', `/kbs/v0/resource${PATH.slice(16)}`, { body: 'top secret' })).status,
    200,
  );
  const tee = teeKeyPair();
  const { token } = await sampleAttest(kbs, tee.jwk);
  return { tee, token };
}

for (const cacheSize of [4096, 0]) {
  test(`resource GET on one keep-alive connection (verified_token_cache_size = ${cacheSize}): expiry and changed tokens still count`, async () => {
    let now = Date.now();
    const kbs = await startTestKbs({
      config: { attestation_token: { verified_token_cache_size: cacheSize } },
      start: { clock: () => now },
    });
    try {
      const { tee, token } = await storeAndAttest(kbs);
      const get = (authorization: string) => kbs.request('GET', PATH, { headers: { authorization } });

      for (let i = 0; i < 3; i++) {
        const r = await get(`Bearer ${token}`);
        assert.equal(r.status, 200);
        assert.equal(decryptResourceResponse(r.text(), tee.privateKey).toString(), 'top secret');
      }
      // Another header on the same connection: parsed and verified, not taken from the memo.
      const [h, p] = token.split('.');
      const bad = await get(`Bearer ${h}.${p}.${b64u('not a signature')}`);
      assert.equal(bad.status, 401);
      assert.match(bad.text(), /TokenVerifierError/);
      assert.equal((await get(`bearer   ${token}  `)).status, 200, 'header parsing as before');
      assert.equal((await get(`Bearer ${token} trailing`)).status, 401);
      assert.equal((await get(`Bearer ${token}`)).status, 200);

      // Past exp + 60 s leeway: refused on the same connection.
      const exp = JSON.parse(Buffer.from(p, 'base64url').toString()).exp as number;
      now = (exp + 61) * 1000;
      const late = await get(`Bearer ${token}`);
      assert.equal(late.status, 401);
      assert.match(late.text(), /TokenVerifierError/);
      assert.equal((await get(`Bearer ${token}`)).status, 401);
    } finally {
      await kbs.stop();
    }
  });
}

/** A memory audit log whose appends wait for `release()` (or fail while `failing`). */
class GatedAuditLog extends MemoryAuditLog {
  failing = false;
  #gate: Promise<void> = Promise.resolve();
  #open: () => void = () => {};
  hold(): void {
    this.#gate = new Promise((r) => {
      this.#open = r;
    });
  }
  release(): void {
    this.#open();
  }
  override async appendMany(entries: AuditEntry[]): Promise<AuditRecord[]> {
    await this.#gate;
    if (this.failing) throw new AuditError('AUDIT_UNAVAILABLE', 'disk full');
    return super.appendMany(entries);
  }
}

test('a release waits for its durable audit record, and is refused when it cannot be written', async () => {
  const audit = new GatedAuditLog();
  const kbs = await startTestKbs({
    start: { storage: { storage: new MemoryStorage(), sessions: new MemorySessionStore(), audit } },
  });
  try {
    const { tee, token } = await storeAndAttest(kbs);
    const get = () => kbs.request('GET', PATH, { headers: { authorization: `Bearer ${token}` } });

    audit.hold();
    let answered = false;
    const pending = get().then((r) => {
      answered = true;
      return r;
    });
    // The JWE is long done by now; the secret still waits for its record.
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(answered, false, 'no answer before the audit record is written');
    audit.release();
    const ok = await pending;
    assert.equal(ok.status, 200);
    assert.equal(decryptResourceResponse(ok.text(), tee.privateKey).toString(), 'top secret');
    const last = (await audit.list()).at(-1);
    assert.equal(last?.decision, 'allow');
    assert.equal(last?.path, 'default/key/1');

    audit.failing = true;
    const refused = await get();
    assert.equal(refused.status, 401);
    assert.match(refused.text(), /PluginInternalError/);
    assert.doesNotMatch(refused.text(), /ciphertext/);
  } finally {
    await kbs.stop();
  }
});
