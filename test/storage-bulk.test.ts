import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PgStorage } from '../src/kbs/storage/postgres.js';
import { SqliteStorage } from '../src/kbs/storage/sqlite.js';
import { DATABASE_URL, dec, dropSchema, enc, tempDir, uniqueSchema } from './fixtures/storage-backends.js';
import { needs, skipUnless } from './helpers/components.js';

/* setMany: the bulk loader used by the benchmark and large imports. One transaction, all or nothing. */

type Bulk = SqliteStorage | PgStorage;

const backends: {
  name: string;
  skip: string | false;
  make(): Promise<{ s: Bulk; cleanup(): Promise<void> }>;
}[] = [
  {
    name: 'sqlite',
    skip: false,
    async make() {
      const t = await tempDir('bulk');
      return { s: SqliteStorage.open(`${t.dir}/kbs.sqlite`), cleanup: t.cleanup };
    },
  },
  {
    name: 'postgres',
    skip: skipUnless(needs.postgres),
    async make() {
      const schema = uniqueSchema('bulk');
      return {
        s: await PgStorage.open({ type: 'postgres', url: DATABASE_URL, schema, poolSize: 2 }),
        cleanup: () => dropSchema(schema),
      };
    },
  },
];

for (const b of backends) {
  describe(`setMany: ${b.name}`, { skip: b.skip }, () => {
    test('loads across statement batches, replaces existing keys, last duplicate wins', async () => {
      const { s, cleanup } = await b.make();
      try {
        await s.set('repository', 'k/0', enc('old'));
        function* gen(): Iterable<[string, Uint8Array]> {
          for (let i = 0; i < 12_345; i++) yield [`k/${i}`, enc(`v${i}`)];
          yield ['k/7', enc('dup-last')];
          yield ['k/empty', new Uint8Array(0)];
        }
        assert.equal(await s.setMany('repository', gen()), 12_347);
        assert.equal(dec(await s.get('repository', 'k/0')), 'v0');
        assert.equal(dec(await s.get('repository', 'k/12344')), 'v12344');
        assert.equal(dec(await s.get('repository', 'k/7')), 'dup-last');
        assert.equal((await s.get('repository', 'k/empty'))?.byteLength, 0);
        assert.equal((await s.list('repository', 'k/')).length, 12_346);
      } finally {
        await s.close();
        await cleanup();
      }
    });

    test('an invalid entry rolls back the whole load', async () => {
      const { s, cleanup } = await b.make();
      try {
        function* gen(): Iterable<[string, Uint8Array]> {
          for (let i = 0; i < 6000; i++) yield [`ok/${i}`, enc('v')];
          yield ['../bad', enc('v')];
        }
        await assert.rejects(s.setMany('repository', gen()), { code: 'INVALID_KEY' });
        assert.deepEqual(await s.list('repository'), []);
      } finally {
        await s.close();
        await cleanup();
      }
    });
  });
}
