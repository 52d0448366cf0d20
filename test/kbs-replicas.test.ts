import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { RESOURCE_POLICIES } from '../src/kbs/policy/builtin.js';
import { KbsAdminClient } from '../src/kbs-client/admin.js';
import { TeeKeyPair } from '../src/kbs-client/tee-key.js';
import { DATABASE_URL, dropSchema, tempDir, uniqueSchema } from './fixtures/storage-backends.js';
import { needs, skipUnless } from './helpers/components.js';
import { type KbsReplicaSet, postgresBackend, startKbsReplicas } from './helpers/kbs-replicas.js';
import { errorType, RcarSteps } from './helpers/rcar-steps.js';

/*
 * Three `bin/kbs` replicas (A, B, C) on one PostgreSQL schema, made from one `kbs init` (same TLS
 * certificate, token signer and admin key), spoken to over real HTTPS on loopback. Sessions,
 * policies and resources live only in the database, so a handshake may hop between replicas, a
 * token from one is honoured by all, an admin change through one is seen by the others on their next
 * request, and concurrent writers through all three never lose or tear a value.
 * Needs a build (`npm run build`): the programs run from dist/.
 */

const SECRET_PATH = 'default/replica/secret';
const HOT_PATH = 'default/replica/hot';

/** A self-checking value: random body followed by its SHA-256, so a torn or mixed value is detected. */
function sealedValue(size: number): Buffer {
  const body = randomBytes(size);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

function isSealed(v: Buffer): boolean {
  if (v.length < 32) return false;
  return createHash('sha256')
    .update(v.subarray(0, v.length - 32))
    .digest()
    .equals(v.subarray(v.length - 32));
}

// Skips go on each test (not the suite) so the runner counts them and CI's no-skip rule sees them.
const skip = skipUnless(needs.postgres);

describe('KBS replicas on one PostgreSQL', () => {
  const schema = uniqueSchema('kbsrep');
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  let set: KbsReplicaSet;
  let steps: RcarSteps[];
  let admins: KbsAdminClient[];
  let a: RcarSteps;
  let b: RcarSteps;
  let c: RcarSteps;
  const secret = randomBytes(24);

  before(async () => {
    if (skip) return;
    tmp = await tempDir('kbs-replicas');
    // All three start at once: their schema migrations and default-policy installs race on purpose.
    set = await startKbsReplicas(tmp.dir, { storageBackend: postgresBackend(DATABASE_URL!, schema) });
    steps = set.replicas.map((r) => new RcarSteps(r.url, set.certPem));
    [a, b, c] = steps;
    admins = set.replicas.map(
      (r) => new KbsAdminClient({ url: r.url, extraRootCertsPem: set.certPem, adminToken: set.adminToken }),
    );
    // The default policy refuses the sample TEE; these tests are about replication, not appraisal.
    await admins[0].setResourcePolicy(RESOURCE_POLICIES['allow-all']);
    await admins[0].setResource(SECRET_PATH, secret);
  });

  after(async () => {
    if (skip) return;
    for (const s of steps ?? []) s.close();
    for (const x of admins ?? []) x.close();
    try {
      await set?.stop();
    } finally {
      await dropSchema(schema);
      await tmp?.cleanup();
    }
  });

  test('/auth on A, /attest on B, resource GET on C (bearer), and the session from A works at B and C', {
    skip,
  }, async () => {
    const tee = await TeeKeyPair.generate();
    const challenge = await a.auth();
    assert.ok(challenge.cookies.header(), 'A set a session cookie');
    const token = await b.attest(challenge, tee);
    assert.deepEqual(await c.secret(SECRET_PATH, { bearer: token }, tee), secret);
    // Background check: the session cookie A issued, attested at B, authorizes GETs at B and C (and A).
    for (const r of [b, c, a]) {
      assert.deepEqual(await r.secret(SECRET_PATH, { cookies: challenge.cookies }, tee), secret);
    }
  });

  test('session state is shared: a repeated /attest at another replica returns the same token', {
    skip,
  }, async () => {
    const tee = await TeeKeyPair.generate();
    const challenge = await c.auth();
    const token = await a.attest(challenge, tee);
    // The session is Attested in the database; B answers from it as A would (§3.3, upstream behaviour).
    assert.equal(await b.attest(challenge, tee), token);
    const stranger = await b.auth(); // authed at B, never attested: no token for a GET anywhere
    for (const r of [a, c]) {
      const res = await r.getResource(SECRET_PATH, { cookies: stranger.cookies });
      assert.equal(res.status, 401);
    }
  });

  test('a token issued by A is accepted by B and C', { skip }, async () => {
    const tee = await TeeKeyPair.generate();
    const { token } = await a.attestHere(tee);
    assert.deepEqual(await c.secret(SECRET_PATH, { bearer: token }, tee), secret);
    assert.deepEqual(await b.secret(SECRET_PATH, { bearer: token }, tee), secret);
  });

  test("policy and resource changes through A's admin API are seen by B and C on their next request", {
    skip,
  }, async () => {
    const tee = await TeeKeyPair.generate();
    const { token } = await b.attestHere(tee);
    const bearer = { bearer: token };
    assert.deepEqual(await c.secret(SECRET_PATH, bearer, tee), secret);

    await admins[0].setResourcePolicy(RESOURCE_POLICIES['deny-all']);
    for (const r of [c, b]) {
      const res = await r.getResource(SECRET_PATH, bearer);
      assert.equal(res.status, 401);
      assert.equal(errorType(res), 'PolicyDeny');
    }
    await admins[0].setResourcePolicy(RESOURCE_POLICIES['allow-all']);
    assert.deepEqual(await c.secret(SECRET_PATH, bearer, tee), secret);

    const next = randomBytes(40);
    await admins[0].setResource(SECRET_PATH, next);
    assert.deepEqual(await c.secret(SECRET_PATH, bearer, tee), next);
    assert.deepEqual(await b.secret(SECRET_PATH, bearer, tee), next);

    const gone = 'default/replica/gone';
    await admins[0].setResource(gone, randomBytes(8));
    assert.equal((await c.getResource(gone, bearer)).status, 200);
    await admins[0].deleteResource(gone);
    const res = await c.getResource(gone, bearer);
    assert.equal(res.status, 401);
    assert.equal(errorType(res), 'PluginInternalError');

    await admins[0].setResource(SECRET_PATH, secret);
  });

  test('concurrent set-resource through A, B and C never loses or tears a value', { skip }, async () => {
    const tee = await TeeKeyPair.generate();
    const { token } = await a.attestHere(tee);
    const bearer = { bearer: token };
    const hex = (v: Buffer) => v.toString('hex');
    let previous = sealedValue(16);
    await admins[2].setResource(HOT_PATH, previous);
    const rounds = 20;
    let reads = 0;
    for (let round = 0; round < rounds; round++) {
      // Three writers per replica per round; every fourth round writes values of 256 KiB (TOAST).
      const values = Array.from({ length: 9 }, (_, i) =>
        sealedValue(round % 4 === 3 && i % 3 === 0 ? 256 * 1024 : 64 + round * 9 + i),
      );
      const allowed = new Set([hex(previous), ...values.map(hex)]);
      let writing = true;
      const writes = Promise.all(values.map((v, i) => admins[i % 3].setResource(HOT_PATH, v))).finally(() => {
        writing = false;
      });
      // Readers on every replica while the writes are in flight: each value seen is whole and was written.
      const readers = steps.map(async (r) => {
        do {
          const v = await r.secret(HOT_PATH, bearer, tee);
          reads++;
          assert.ok(isSealed(v), `round ${round}: a reader saw a torn value`);
          assert.ok(allowed.has(hex(v)), `round ${round}: a reader saw a value never written`);
        } while (writing);
      });
      await Promise.all([writes, ...readers]);
      const finals = await Promise.all(steps.map((r) => r.secret(HOT_PATH, bearer, tee)));
      for (const f of finals) assert.equal(hex(f), hex(finals[0]), 'replicas disagree after the round');
      assert.ok(
        values.some((v) => v.equals(finals[0])),
        `round ${round}: the final value is not one written in this round`,
      );
      previous = finals[0];
    }
    assert.ok(reads >= rounds * 3);
  });
});
