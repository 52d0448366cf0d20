import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SealedSecretError } from '../sealed/errors.js';
import { KidResolver } from './verification-keys.js';

const root = mkdtempSync(join(tmpdir(), 'kid-'));
after(() => rmSync(root, { recursive: true, force: true }));
const keyDir = join(root, 'sealed-secret');
mkdirSync(join(keyDir, 'sub'), { recursive: true });
writeFileSync(join(keyDir, 'test-key'), 'inside');
writeFileSync(join(keyDir, 'sub', 'k2'), 'nested');
writeFileSync(join(root, 'outside'), 'outside');
symlinkSync(join(root, 'outside'), join(keyDir, 'escape'));
symlinkSync(join(keyDir, 'test-key'), join(keyDir, 'alias'));

const code = (c: string) => (e: unknown) => e instanceof SealedSecretError && e.code === c;

test('file kids resolve under the key directory, symlinks inside are fine', async () => {
  const r = new KidResolver({ keyDir });
  assert.equal(Buffer.from(await r.resolve('test-key')).toString(), 'inside');
  assert.equal(Buffer.from(await r.resolve('sub/k2')).toString(), 'nested');
  assert.equal(Buffer.from(await r.resolve('alias')).toString(), 'inside');
  assert.equal(
    Buffer.from(await r.resolve('foo:bar/../test-key')).toString(),
    'inside',
    'a non-kbs URL goes the file route',
  );
});

test('absolute kids, .. escapes and symlinks out are rejected with Invalid KID Key Path', async () => {
  const r = new KidResolver({ keyDir });
  for (const kid of [join(root, 'outside'), '../outside', 'sub/../../outside', 'escape', '.']) {
    await assert.rejects(r.resolve(kid), code('KID_INVALID'), kid);
  }
  await assert.rejects(r.resolve('nope'), code('KID_UNKNOWN'));
  await assert.rejects(
    new KidResolver({ keyDir: join(root, 'missing') }).resolve('test-key'),
    /KID is invalid/,
  );
});

test('KBS URI kids go through the resource getter', async () => {
  const asked: string[] = [];
  const r = new KidResolver({
    keyDir,
    resources: {
      get: async (u) => {
        asked.push(u);
        return Buffer.from('jwk');
      },
    },
  });
  assert.equal(Buffer.from(await r.resolve('kbs:///default/signing-key/1')).toString(), 'jwk');
  assert.deepEqual(asked, ['kbs:///default/signing-key/1']);
  await assert.rejects(new KidResolver({ keyDir }).resolve('kbs:///a/b/c'), code('KID_UNKNOWN'));
  // `kbs+:///x` is not a resource URI, so it is a (missing) file name.
  await assert.rejects(r.resolve('kbs+:///x'), (e: unknown) => e instanceof SealedSecretError);
});
