import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { LocalFsStorage } from '../src/kbs/storage/localfs.js';
import { MemoryStorage } from '../src/kbs/storage/memory.js';
import { PgStorage } from '../src/kbs/storage/postgres.js';
import { SqliteStorage } from '../src/kbs/storage/sqlite.js';
import type { Storage } from '../src/kbs/storage/storage.js';
import { DATABASE_URL, dec, dropSchema, enc, tempDir, uniqueSchema } from './fixtures/storage-backends.js';
import { needs, skipUnless } from './helpers/components.js';

/*
 * One behavioural contract (kbs-protocol.md §10) checked against every backend: the KBS must not be
 * able to tell them apart.
 */

interface Backend {
  name: string;
  skip: string | false;
  /** Opens a store over fresh state; `reopen` opens a second store over the same state. */
  make(): Promise<{ storage: Storage; reopen?: () => Promise<Storage>; cleanup(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'memory',
    skip: false,
    async make() {
      return { storage: new MemoryStorage(), cleanup: async () => {} };
    },
  },
  {
    name: 'sqlite',
    skip: false,
    async make() {
      const t = await tempDir('conf-sqlite');
      const path = `${t.dir}/kbs.sqlite`;
      return {
        storage: SqliteStorage.open(path),
        reopen: async () => SqliteStorage.open(path),
        cleanup: t.cleanup,
      };
    },
  },
  {
    name: 'localfs',
    skip: false,
    async make() {
      const t = await tempDir('conf-localfs');
      return {
        storage: new LocalFsStorage(t.dir),
        reopen: async () => new LocalFsStorage(t.dir),
        cleanup: t.cleanup,
      };
    },
  },
  {
    name: 'postgres',
    skip: skipUnless(needs.postgres),
    async make() {
      const schema = uniqueSchema('conf');
      const cfg = { type: 'postgres' as const, url: DATABASE_URL, schema, poolSize: 4 };
      return {
        storage: await PgStorage.open(cfg),
        reopen: () => PgStorage.open(cfg),
        cleanup: () => dropSchema(schema),
      };
    },
  },
];

async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.equal((e as { code?: string }).code, code, String(e));
    return true;
  });
}

for (const b of backends) {
  describe(`Storage contract: ${b.name}`, { skip: b.skip }, () => {
    async function withStore(
      fn: (s: Storage, reopen?: () => Promise<Storage>) => Promise<void>,
    ): Promise<void> {
      const { storage, reopen, cleanup } = await b.make();
      try {
        await fn(storage, reopen);
      } finally {
        await storage.close();
        await cleanup();
      }
    }

    test('round-trips arbitrary bytes, including empty and 1 MiB values', () =>
      withStore(async (s) => {
        const all = Uint8Array.from({ length: 256 }, (_, i) => i);
        const big = new Uint8Array(1 << 20).map((_, i) => (i * 31) & 0xff);
        await s.set('repository', 'default/key/all', all);
        await s.set('repository', 'default/key/empty', new Uint8Array(0));
        await s.set('repository', 'default/key/big', big);
        assert.deepEqual(new Uint8Array((await s.get('repository', 'default/key/all'))!), all);
        assert.equal((await s.get('repository', 'default/key/empty'))?.byteLength, 0);
        assert.deepEqual(new Uint8Array((await s.get('repository', 'default/key/big'))!), big);
        assert.equal(await s.get('repository', 'default/key/absent'), undefined);
      }));

    test('set replaces by default; overwrite:false refuses an existing key and keeps its value', () =>
      withStore(async (s) => {
        await s.set('kbs', 'policy', enc('one'));
        await s.set('kbs', 'policy', enc('two'));
        assert.equal(dec(await s.get('kbs', 'policy')), 'two');
        await rejectsCode(s.set('kbs', 'policy', enc('three'), { overwrite: false }), 'ALREADY_EXISTS');
        assert.equal(dec(await s.get('kbs', 'policy')), 'two');
        await s.set('kbs', 'fresh', enc('x'), { overwrite: false });
        assert.equal(dec(await s.get('kbs', 'fresh')), 'x');
      }));

    test('a stored value is not affected by later changes to the caller buffer', () =>
      withStore(async (s) => {
        const v = enc('abc');
        await s.set('repository', 'a/b/c', v);
        v[0] = 0x7a;
        const got = await s.get('repository', 'a/b/c');
        assert.equal(dec(got), 'abc');
      }));

    test('delete reports whether something was deleted', () =>
      withStore(async (s) => {
        await s.set('reference_value', 'svn', enc('1'));
        assert.equal(await s.delete('reference_value', 'svn'), true);
        assert.equal(await s.delete('reference_value', 'svn'), false);
        assert.equal(await s.get('reference_value', 'svn'), undefined);
      }));

    test('list is ascending byte order, filtered by prefix, per namespace', () =>
      withStore(async (s) => {
        const keys = ['a', 'a/b', 'a-b', 'a.b', 'ab', 'B', 'a/b/c', 'a0', 'Z_'];
        for (const k of keys) await s.set('repository', k, enc(k));
        await s.set('kbs', 'a/zzz', enc('other namespace'));
        const sorted = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
        assert.deepEqual(await s.list('repository'), sorted);
        assert.deepEqual(await s.list('repository', 'a/'), ['a/b', 'a/b/c']);
        assert.deepEqual(
          await s.list('repository', 'a'),
          sorted.filter((k) => k.startsWith('a')),
        );
        assert.deepEqual(await s.list('repository', 'nope'), []);
        assert.deepEqual(await s.list('attestation_service_policy'), []);
      }));

    test('namespaces are isolated', () =>
      withStore(async (s) => {
        await s.set('repository', 'same', enc('r'));
        await s.set('kbs', 'same', enc('k'));
        assert.equal(dec(await s.get('repository', 'same')), 'r');
        assert.equal(dec(await s.get('kbs', 'same')), 'k');
        await s.delete('kbs', 'same');
        assert.equal(dec(await s.get('repository', 'same')), 'r');
      }));

    test('rejects keys, namespaces and prefixes outside the grammar (INVALID_KEY)', () =>
      withStore(async (s) => {
        const badKeys = ['', '.hidden', '/abs', 'a b', 'a\\x2Fb', 'é', 'a\0b', 'x'.repeat(201), 'a?b'];
        for (const k of badKeys) {
          await rejectsCode(s.set('repository', k, enc('v')), 'INVALID_KEY');
          await rejectsCode(s.get('repository', k), 'INVALID_KEY');
          await rejectsCode(s.delete('repository', k), 'INVALID_KEY');
        }
        for (const ns of ['', '.', '..', 'a//b', '../etc', 'a/./b', 'a/', '/a', 'a b']) {
          await rejectsCode(s.set(ns, 'k', enc('v')), 'INVALID_KEY');
          await rejectsCode(s.list(ns), 'INVALID_KEY');
        }
        await rejectsCode(s.list('repository', "a'; --"), 'INVALID_KEY');
        // Grammar edge cases that are valid.
        await s.set('repository', 'a..b/._-/x.', enc('ok'));
        assert.equal(dec(await s.get('repository', 'a..b/._-/x.')), 'ok');
      }));

    test('behaves like a map under random operation sequences', () =>
      withStore(async (s) => {
        const key = fc.constantFrom('k1', 'k2', 'k1/a', 'k1/b', 'k2/a');
        const ns = fc.constantFrom('repository', 'kbs');
        const op = fc.oneof(
          fc.record({
            op: fc.constant('set' as const),
            ns,
            key,
            v: fc.uint8Array({ maxLength: 8 }),
            ow: fc.boolean(),
          }),
          fc.record({ op: fc.constant('delete' as const), ns, key }),
          fc.record({ op: fc.constant('get' as const), ns, key }),
          fc.record({ op: fc.constant('list' as const), ns, prefix: fc.constantFrom('', 'k1', 'k1/', 'k2') }),
        );
        let run = 0;
        await fc.assert(
          fc.asyncProperty(fc.array(op, { maxLength: 25 }), async (ops) => {
            // A fresh namespace pair per run keeps runs independent without reopening the store.
            run++;
            const model = new Map<string, Uint8Array>();
            const n = (x: string) => `${x}${run}`;
            for (const o of ops) {
              const mk = `${n(o.ns)}\0${'key' in o ? o.key : ''}`;
              if (o.op === 'set') {
                const exists = model.has(mk);
                if (!o.ow && exists) {
                  await rejectsCode(s.set(n(o.ns), o.key, o.v, { overwrite: false }), 'ALREADY_EXISTS');
                } else {
                  await s.set(n(o.ns), o.key, o.v, { overwrite: o.ow });
                  model.set(mk, o.v);
                }
              } else if (o.op === 'delete') {
                assert.equal(await s.delete(n(o.ns), o.key), model.delete(mk));
              } else if (o.op === 'get') {
                const got = await s.get(n(o.ns), o.key);
                const want = model.get(mk);
                assert.deepEqual(got === undefined ? undefined : new Uint8Array(got), want);
              } else {
                const want = [...model.keys()]
                  .filter((k) => k.startsWith(`${n(o.ns)}\0${o.prefix}`))
                  .map((k) => k.slice(k.indexOf('\0') + 1))
                  .sort();
                assert.deepEqual(await s.list(n(o.ns), o.prefix), want);
              }
            }
          }),
          { numRuns: b.name === 'memory' ? 200 : 25, seed: 20260821 },
        );
      }));

    if (b.name !== 'memory') {
      test('data survives closing and reopening', () =>
        withStore(async (s, reopen) => {
          await s.set('repository', 'one/two/three', enc('persisted'));
          const again = await reopen!();
          try {
            assert.equal(dec(await again.get('repository', 'one/two/three')), 'persisted');
          } finally {
            await again.close();
          }
        }));
    }

    test('a closed store refuses calls with STORAGE_UNAVAILABLE', async () => {
      const { storage, cleanup } = await b.make();
      await storage.close();
      await storage.close(); // idempotent
      try {
        await rejectsCode(storage.get('repository', 'a'), 'STORAGE_UNAVAILABLE');
        await rejectsCode(storage.set('repository', 'a', enc('v')), 'STORAGE_UNAVAILABLE');
      } finally {
        await cleanup();
      }
    });
  });
}
