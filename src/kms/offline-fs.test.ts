import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { KmsError } from './errors.js';
import { OfflineFsResourceGetter, offlineFsFilesFromEnv } from './offline-fs.js';

const dir = mkdtempSync(join(tmpdir(), 'offline-fs-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};

test('lookup ignores host, plugin and query; later files override earlier ones', async () => {
  const a = file(
    'a.json',
    JSON.stringify({ 'a/b/c': Buffer.from('one').toString('base64'), 'x/y/z': 'eHl6' }),
  );
  const b = file('b.json', JSON.stringify({ 'a/b/c': Buffer.from('two').toString('base64') }));
  const warnings: string[] = [];
  const g = new OfflineFsResourceGetter({
    files: [join(dir, 'missing.json'), a, b],
    warn: (m) => warnings.push(m),
  });
  for (const uri of ['kbs:///a/b/c', 'kbs+pkcs11:///a/b/c', 'kbs://h:1/a/b/c?x=y'])
    assert.equal(Buffer.from(await g.get(uri)).toString(), 'two');
  assert.equal(Buffer.from(await g.get('kbs:///x/y/z')).toString(), 'xyz');
  assert.ok(
    warnings.some((w) => w.includes('missing.json')),
    'a missing file is skipped with a warning',
  );
  assert.ok(warnings.some((w) => w.includes('overrides')));
  await assert.rejects(
    g.get('kbs:///no/such/thing'),
    (e: unknown) => e instanceof KmsError && e.code === 'RESOURCE_NOT_FOUND',
  );
});

test('malformed JSON, non-string and non-base64 values are errors', async () => {
  for (const content of [
    '{not json',
    '{"a/b/c": 1}',
    '{"a/b/c": "not base64!"}',
    '{"a/b/c": "eHl6"}'.replace('eHl6', 'eHl'),
  ]) {
    const g = new OfflineFsResourceGetter({ files: [file('bad.json', content)] });
    await assert.rejects(
      g.get('kbs:///a/b/c'),
      (e: unknown) => e instanceof KmsError && e.code === 'KMS_FAILED',
      content,
    );
  }
});

test('OFFLINE_FS_KBC_EXTRA_FILE_PATH adds comma-separated files after the defaults', () => {
  assert.deepEqual(offlineFsFilesFromEnv({ OFFLINE_FS_KBC_EXTRA_FILE_PATH: '/x.json,/y.json' }), [
    '/etc/aa-offline_fs_kbc-keys.json',
    '/etc/aa-offline_fs_kbc-resources.json',
    '/x.json',
    '/y.json',
  ]);
});
