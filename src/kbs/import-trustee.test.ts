import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { importTrusteeLocalFs, scanTrusteeLocalFs, type TrusteeImportProgress } from './import-trustee.js';
import { LocalFsStorage } from './storage/localfs.js';
import { MemoryStorage } from './storage/memory.js';
import { SqliteStorage } from './storage/sqlite.js';

/* A fake upstream Trustee LocalFs directory (kbs-protocol.md §10) imported into our storage. */

const secret = Uint8Array.from({ length: 16 }, (_, i) => (i * 37 + 11) & 0xff);

async function fakeTrustee(): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'cocoseal-trustee-'));
  const put = async (ns: string, name: string, v: Uint8Array | string) => {
    await mkdir(join(dir, ns), { recursive: true });
    await writeFile(join(dir, ns, name), v);
  };
  await put('repository', 'one\\x2Ftwo\\x2Fthree', secret);
  await put('repository', 'default\\x2Ftest\\x2Fsecret', 'shhhhhhh');
  await put('repository', 'default\\x2Fempty\\x2Fvalue', new Uint8Array(0));
  await put('kbs', 'resource-policy', 'package policy\ndefault allow = true\n');
  await put('attestation_service_policy', 'default_cpu.rego', 'package policy\n');
  await put('reference_value', 'svn', '{"version":"0.1.0","name":"svn","value":["1"]}');
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

test('imports every namespace one-to-one, decoding \\x2F, and reports progress', async () => {
  const t = await fakeTrustee();
  const storage = new MemoryStorage();
  try {
    const progress: TrusteeImportProgress[] = [];
    const r = await importTrusteeLocalFs(t.dir, storage, { onProgress: (p) => progress.push(p) });
    assert.equal(r.total, 6);
    assert.equal(r.imported, 6);
    assert.deepEqual(r.byNamespace, {
      attestation_service_policy: 1,
      kbs: 1,
      reference_value: 1,
      repository: 3,
    });
    assert.deepEqual(r.conflicts, []);
    assert.deepEqual(
      progress.map((p) => p.done),
      [1, 2, 3, 4, 5, 6],
    );
    assert.ok(progress.every((p) => p.total === 6 && p.outcome === 'imported'));
    assert.deepEqual(new Uint8Array((await storage.get('repository', 'one/two/three'))!), secret);
    assert.equal(
      new TextDecoder().decode(await storage.get('repository', 'default/test/secret')),
      'shhhhhhh',
    );
    assert.equal((await storage.get('repository', 'default/empty/value'))?.byteLength, 0);
    assert.deepEqual(await storage.list('repository'), [
      'default/empty/value',
      'default/test/secret',
      'one/two/three',
    ]);
    assert.ok(await storage.get('attestation_service_policy', 'default_cpu.rego'));
  } finally {
    await t.cleanup();
  }
});

test('a second import is idempotent; a differing value is a conflict unless overwrite', async () => {
  const t = await fakeTrustee();
  const tmp = await mkdtemp(join(tmpdir(), 'cocoseal-import-db-'));
  const storage = SqliteStorage.open(join(tmp, 'kbs.sqlite'));
  try {
    await importTrusteeLocalFs(t.dir, storage);
    const again = await importTrusteeLocalFs(t.dir, storage);
    assert.equal(again.imported, 0);
    assert.equal(again.unchanged, 6);
    await storage.set('repository', 'one/two/three', new TextEncoder().encode('changed since'));
    const conflict = await importTrusteeLocalFs(t.dir, storage);
    assert.deepEqual(conflict.conflicts, [{ namespace: 'repository', key: 'one/two/three' }]);
    assert.equal(new TextDecoder().decode(await storage.get('repository', 'one/two/three')), 'changed since');
    const dry = await importTrusteeLocalFs(t.dir, storage, { overwrite: true, dryRun: true });
    assert.equal(dry.imported, 1);
    assert.equal(new TextDecoder().decode(await storage.get('repository', 'one/two/three')), 'changed since');
    const forced = await importTrusteeLocalFs(t.dir, storage, { overwrite: true });
    assert.equal(forced.imported, 1);
    assert.deepEqual(new Uint8Array((await storage.get('repository', 'one/two/three'))!), secret);
  } finally {
    await storage.close();
    await rm(tmp, { recursive: true, force: true });
    await t.cleanup();
  }
});

test('malformed entries refuse the whole import and are all named', async () => {
  const t = await fakeTrustee();
  try {
    await mkdir(join(t.dir, 'repository', 'nested'));
    await writeFile(join(t.dir, 'repository', '.hidden'), 'x');
    await writeFile(join(t.dir, 'repository', 'bad\\x2fcase'), 'x');
    await writeFile(join(t.dir, 'stray-file'), 'x');
    await mkdir(join(t.dir, 'bad ns'));
    await symlink('/etc/passwd', join(t.dir, 'kbs', 'link'));
    await writeFile(join(t.dir, 'repository', 'too\\x2Fbig\\x2Fvalue'), new Uint8Array(2048));
    const storage = new MemoryStorage();
    await assert.rejects(
      importTrusteeLocalFs(t.dir, storage, { maxValueBytes: 1024 }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'MALFORMED_ENTRY');
        for (const part of [
          'repository/nested',
          'repository/.hidden',
          'bad\\x2fcase',
          'stray-file',
          'bad ns/',
          'kbs/link',
          'too\\x2Fbig',
        ]) {
          assert.ok(e.message.includes(part), `${part} not named in: ${e.message}`);
        }
        assert.match(e.message, /nothing imported/);
        return true;
      },
    );
    assert.deepEqual(await storage.list('repository'), [], 'nothing may be written when refusing');

    const scan = await scanTrusteeLocalFs(t.dir, { maxValueBytes: 1024 });
    assert.equal(scan.malformed.length, 7);
    assert.match(scan.malformed.find((m) => m.file === 'repository/nested')!.reason, /flat/);
    assert.match(scan.malformed.find((m) => m.file === 'kbs/link')!.reason, /symbolic link/);

    const partial = await importTrusteeLocalFs(t.dir, storage, { skipMalformed: true, maxValueBytes: 1024 });
    assert.equal(partial.imported, 6);
    assert.equal(partial.malformed.length, 7);
  } finally {
    await t.cleanup();
  }
});

test('a missing directory is a clear error', async () => {
  await assert.rejects(importTrusteeLocalFs('/nonexistent/trustee', new MemoryStorage()), {
    code: 'STORAGE_UNAVAILABLE',
    message: /cannot read Trustee LocalFs directory \/nonexistent\/trustee \(ENOENT\)/,
  });
});

test('our LocalFs backend reads a Trustee directory in place and writes the same layout', async () => {
  const t = await fakeTrustee();
  try {
    const fs = new LocalFsStorage(t.dir);
    assert.deepEqual(new Uint8Array((await fs.get('repository', 'one/two/three'))!), secret);
    await fs.set('repository', 'a/b/c', new TextEncoder().encode('new'));
    const scan = await scanTrusteeLocalFs(t.dir);
    assert.ok(scan.entries.some((e) => e.file === 'repository/a\\x2Fb\\x2Fc'));
    assert.deepEqual(scan.malformed, []);
  } finally {
    await t.cleanup();
  }
});
