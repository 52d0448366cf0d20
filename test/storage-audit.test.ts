import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { MemoryAuditLog } from '../src/kbs/audit/memory.js';
import { PgAuditLog } from '../src/kbs/audit/postgres.js';
import { GENESIS_HASH, recordHash } from '../src/kbs/audit/record.js';
import { SqliteAuditLog } from '../src/kbs/audit/sqlite.js';
import type { AuditEntry, AuditLog } from '../src/kbs/audit/types.js';
import { openPostgres } from '../src/kbs/storage/postgres-db.js';
import { openSqlite } from '../src/kbs/storage/sqlite-db.js';
import { DATABASE_URL, dropSchema, pgExec, tempDir, uniqueSchema } from './fixtures/storage-backends.js';
import { needs, skipUnless } from './helpers/components.js';

/* Hash-chained release audit log: append, query, and tamper detection on every backend. */

test('record hash is SHA-256 over the JCS encoding of the record (pinned vector)', () => {
  const rec = {
    seq: 1,
    time: '2026-08-21T13:11:50.000Z',
    kind: 'resource' as const,
    decision: 'deny' as const,
    reason: 'PolicyDeny',
    tee: 'sample',
    evidenceDigest: 'sha384:ab',
    path: 'one/two/three',
    policyId: 'resource-policy',
    policyDigest: 'sha256:cd',
    action: 'get',
    actor: null,
    prevHash: GENESIS_HASH,
  };
  const canonical =
    '{"action":"get","actor":null,"decision":"deny","evidence_digest":"sha384:ab","kind":"resource",' +
    '"path":"one/two/three","policy_digest":"sha256:cd","policy_id":"resource-policy",' +
    `"prev_hash":"${GENESIS_HASH}","reason":"PolicyDeny","seq":1,"tee":"sample","time":"2026-08-21T13:11:50.000Z","v":1}`;
  assert.equal(recordHash(rec), createHash('sha256').update(canonical).digest('hex'));
});

const sample: AuditEntry[] = [
  {
    kind: 'attestation',
    decision: 'allow',
    tee: 'sample',
    evidenceDigest: 'sha384:01',
    policyId: 'default_cpu',
  },
  {
    kind: 'resource',
    decision: 'allow',
    tee: 'sample',
    path: 'one/two/three',
    policyId: 'resource-policy',
    action: 'get',
  },
  {
    kind: 'resource',
    decision: 'deny',
    tee: 'snp',
    path: 'one/two/three',
    reason: 'PolicyDeny',
    action: 'get',
  },
  { kind: 'admin', decision: 'allow', path: 'one/two/four', action: 'set-resource', actor: 'admin-key-1' },
  {
    kind: 'resource',
    decision: 'deny',
    tee: 'tdx',
    path: 'other/x/y',
    reason: 'TokenVerifierError',
    action: 'get',
  },
];

interface Backend {
  name: string;
  skip: string | false;
  /** `tamper(sql)` runs SQL with `$T` replaced by the audit table and `$H` by the head table. */
  make(): Promise<{ log: AuditLog; tamper?: (sql: string) => Promise<void>; cleanup(): Promise<void> }>;
}

const backends: Backend[] = [
  { name: 'memory', skip: false, make: async () => ({ log: new MemoryAuditLog(), cleanup: async () => {} }) },
  {
    name: 'sqlite',
    skip: false,
    async make() {
      const t = await tempDir('audit');
      const path = `${t.dir}/kbs.sqlite`;
      return {
        log: new SqliteAuditLog(openSqlite(path)),
        async tamper(sql) {
          const db = new Database(path);
          try {
            db.exec(sql.replaceAll('$T', 'audit_log').replaceAll('$H', 'audit_head'));
          } finally {
            db.close();
          }
        },
        cleanup: t.cleanup,
      };
    },
  },
  {
    name: 'postgres',
    skip: skipUnless(needs.postgres),
    async make() {
      const schema = uniqueSchema('audit');
      const h = await openPostgres({ type: 'postgres', url: DATABASE_URL, schema, poolSize: 4 });
      return {
        log: new PgAuditLog(h),
        async tamper(sql) {
          await pgExec(
            sql
              .replaceAll('$T', `"${schema}".cocoseal_audit_log`)
              .replaceAll('$H', `"${schema}".cocoseal_audit_head`),
          );
        },
        cleanup: () => dropSchema(schema),
      };
    },
  },
];

for (const b of backends) {
  describe(`AuditLog: ${b.name}`, { skip: b.skip }, () => {
    async function withLog(
      fn: (log: AuditLog, tamper: (sql: string) => Promise<void>) => Promise<void>,
    ): Promise<void> {
      const { log, tamper, cleanup } = await b.make();
      try {
        for (const e of sample) await log.append(e);
        await fn(log, tamper ?? (async () => assert.fail('no tampering on memory')));
      } finally {
        await log.close();
        await cleanup();
      }
    }

    test('appends a linked chain and verifies it', () =>
      withLog(async (log) => {
        const all = await log.list();
        assert.deepEqual(
          all.map((r) => r.seq),
          [1, 2, 3, 4, 5],
        );
        assert.equal(all[0].prevHash, GENESIS_HASH);
        for (let i = 1; i < all.length; i++) assert.equal(all[i].prevHash, all[i - 1].hash);
        assert.equal(all[2].reason, 'PolicyDeny');
        assert.equal(all[3].actor, 'admin-key-1');
        assert.equal(all[0].path, null);
        const v = await log.verify();
        assert.deepEqual(v, { ok: true, count: 5, headHash: all[4].hash });
      }));

    test('appendMany writes a batch as one linked run after the existing chain', () =>
      withLog(async (log) => {
        const batch = Array.from(
          { length: 50 },
          (_, i): AuditEntry => ({ kind: 'resource', decision: 'allow', path: `a/b/${i}` }),
        );
        const recs = await log.appendMany(batch);
        assert.deepEqual(
          recs.map((r) => r.seq),
          Array.from({ length: 50 }, (_, i) => 6 + i),
        );
        assert.deepEqual(await log.appendMany([]), []);
        const v = await log.verify();
        assert.deepEqual(v, { ok: true, count: 55, headHash: recs[49].hash });
        assert.equal((await log.list({ path: 'a/b/7' }))[0].seq, 13);
      }));

    test('list filters by path, time and sequence, with a limit', () =>
      withLog(async (log) => {
        assert.deepEqual(
          (await log.list({ path: 'one/two/three' })).map((r) => r.seq),
          [2, 3],
        );
        assert.deepEqual(
          (await log.list({ limit: 2 })).map((r) => r.seq),
          [1, 2],
        );
        assert.deepEqual(
          (await log.list({ afterSeq: 3 })).map((r) => r.seq),
          [4, 5],
        );
        const later = new Date(Date.now() + 60_000);
        await log.append({ kind: 'admin', decision: 'deny', reason: 'AdminAuthAccess', time: later });
        assert.deepEqual(
          (await log.list({ since: later })).map((r) => r.seq),
          [6],
        );
        assert.equal((await log.list({ since: new Date(0) })).length, 6);
        await assert.rejects(log.list({ limit: 0 }), { code: 'INVALID_ENTRY' });
      }));

    test('rejects malformed entries and never stores fields outside the record', () =>
      withLog(async (log) => {
        await assert.rejects(log.append({ kind: 'release', decision: 'allow' } as never), {
          code: 'INVALID_ENTRY',
        });
        await assert.rejects(log.append({ kind: 'resource', decision: 'maybe' } as never), {
          code: 'INVALID_ENTRY',
        });
        await assert.rejects(log.append({ kind: 'resource', decision: 'deny', reason: 'a\nforged line' }), {
          code: 'INVALID_ENTRY',
        });
        await assert.rejects(log.append({ kind: 'resource', decision: 'deny', path: 'x'.repeat(1025) }), {
          code: 'INVALID_ENTRY',
        });
        const withSecret = {
          kind: 'resource',
          decision: 'allow',
          path: 'a/b/c',
          value: 'TOP-SECRET',
        } as AuditEntry;
        const rec = await log.append(withSecret);
        assert.ok(!JSON.stringify(rec).includes('TOP-SECRET'));
        assert.ok(!JSON.stringify(await log.list()).includes('TOP-SECRET'));
        assert.deepEqual(await log.verify(), { ok: true, count: 6, headHash: rec.hash });
      }));

    if (b.name !== 'memory') {
      test('an altered record is named', () =>
        withLog(async (log, tamper) => {
          await tamper(`UPDATE $T SET decision = 'allow' WHERE seq = 3`);
          const v = await log.verify();
          assert.equal(v.ok, false);
          assert.equal(!v.ok && v.badSeq, 3);
          assert.match(!v.ok ? v.reason : '', /altered/);
        }));

      test('a removed record is named', () =>
        withLog(async (log, tamper) => {
          await tamper('DELETE FROM $T WHERE seq = 2');
          const v = await log.verify();
          assert.equal(!v.ok && v.badSeq, 2);
          assert.match(!v.ok ? v.reason : '', /missing/);
        }));

      test('reordered records are named', () =>
        withLog(async (log, tamper) => {
          await tamper(`UPDATE $T SET seq = -seq WHERE seq IN (2, 3);
            UPDATE $T SET seq = CASE seq WHEN -2 THEN 3 ELSE 2 END WHERE seq < 0;`);
          const v = await log.verify();
          assert.equal(!v.ok && v.badSeq, 2);
          assert.match(!v.ok ? v.reason : '', /does not link/);
        }));

      test('a record rewritten with a recomputed hash breaks the next link', () =>
        withLog(async (log, tamper) => {
          const r = (await log.list({ afterSeq: 1, limit: 1 }))[0];
          const forged = { ...r, decision: 'deny' as const };
          forged.hash = recordHash(forged);
          await tamper(`UPDATE $T SET decision = 'deny', hash = '${forged.hash}' WHERE seq = 2`);
          const v = await log.verify();
          assert.equal(!v.ok && v.badSeq, 3);
        }));

      test('a truncated tail is detected through the chain head', () =>
        withLog(async (log, tamper) => {
          await tamper('DELETE FROM $T WHERE seq = 5');
          const v = await log.verify();
          assert.equal(!v.ok && v.badSeq, 5);
          assert.match(!v.ok ? v.reason : '', /removed from the end/);
        }));

      test('appending continues the chain after a reopen-equivalent head read', () =>
        withLog(async (log) => {
          const rec = await log.append({ kind: 'attestation', decision: 'deny', reason: 'AttestationError' });
          assert.equal(rec.seq, 6);
          assert.equal((await log.verify()).ok, true);
        }));
    }
  });
}

test('PostgreSQL: concurrent appends from two replicas form one gap-free chain', {
  skip: skipUnless(needs.postgres),
}, async () => {
  const schema = uniqueSchema('auditrep');
  const cfg = { type: 'postgres' as const, url: DATABASE_URL, schema, poolSize: 4 };
  const [h1, h2] = await Promise.all([openPostgres(cfg), openPostgres(cfg)]);
  const a = new PgAuditLog(h1);
  const b = new PgAuditLog(h2);
  try {
    const n = 100;
    const recs = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        (i % 2 ? a : b).append({
          kind: 'resource',
          decision: 'allow',
          path: `r/${i % 2}/${i}`,
          action: 'get',
        }),
      ),
    );
    assert.deepEqual(
      recs.map((r) => r.seq).sort((x, y) => x - y),
      Array.from({ length: n }, (_, i) => i + 1),
    );
    assert.deepEqual(await a.verify(), {
      ok: true,
      count: n,
      headHash: (await b.list({ afterSeq: n - 1 }))[0].hash,
    });
  } finally {
    await a.close();
    await b.close();
    await dropSchema(schema);
  }
});
