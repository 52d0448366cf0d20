import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { needs, skipUnless } from './helpers/components.js';
import { vector } from './helpers/paths.js';
import { runBin } from './helpers/run-bin.js';

const dir = mkdtempSync(join(tmpdir(), 'secret-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const keyDir = join(dir, 'keys');
mkdirSync(keyDir);
const resFile = join(dir, 'resources.json');
const resources: Record<string, string> = {};
const setResource = (path: string, value: Buffer | string) => {
  resources[path] = Buffer.from(value).toString('base64');
  writeFileSync(resFile, JSON.stringify(resources));
};
const env = { OFFLINE_FS_KBC_EXTRA_FILE_PATH: resFile, COCOSEAL_SEALED_SECRET_KEY_DIR: keyDir };
const secret = (args: string[], input?: string) => runBin('secret', args, { env, input });
const lastLine = (s: string) => s.trim().split('\n').at(-1)!;

let n = 0;
const fresh = (content: string) => {
  const p = join(dir, `sealed-${++n}`);
  writeFileSync(p, content);
  return p;
};

test('keygen writes a private JWK with d (0600) and a public one without, and never overwrites', async () => {
  const r = await secret(['keygen', '--kid', 'op', '--output-dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Generated .*op-private\.json and .*op-public\.json\n$/);
  const priv = JSON.parse(readFileSync(join(dir, 'op-private.json'), 'utf8'));
  const pub = JSON.parse(readFileSync(join(dir, 'op-public.json'), 'utf8'));
  assert.deepEqual(Object.keys(priv), ['kty', 'crv', 'alg', 'use', 'kid', 'd', 'x', 'y']);
  assert.equal(pub.d, undefined);
  assert.equal(pub.x, priv.x);
  assert.equal(statSync(join(dir, 'op-private.json')).mode & 0o777, 0o600);
  const again = await secret(['keygen', '--kid', 'op', '--output-dir', dir]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /FILE_EXISTS/);
  copyFileSync(join(dir, 'op-public.json'), join(keyDir, 'op'));
});

const seal = (extra: string[]) =>
  secret(['seal', '--signing-kid', 'op', '--signing-jwk-path', join(dir, 'op-private.json'), ...extra]);

test('seal vault → unseal with offline_fs_kbc (upstream e2e), never overwriting the output', async () => {
  setResource('default/app/password', 'p@ssw0rd\n');
  const r = await seal(['vault', '--resource-uri', 'kbs:///default/app/password', '--provider', 'kbs']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.split('\n')[0], 'Warning: Secrets must be provisioned to provider separately.');
  const file = fresh(`  ${lastLine(r.stdout)}\n\n`);
  const u = await secret(['unseal', '--file-path', file, '--aa-kbc-params', 'offline_fs_kbc::null']);
  assert.equal(u.code, 0, u.stderr);
  assert.equal(u.stdout, `unseal success, secret is saved in newly generated file: '"${file}.unsealed"'\n`);
  assert.equal(readFileSync(`${file}.unsealed`, 'utf8'), 'p@ssw0rd\n');
  assert.equal(statSync(`${file}.unsealed`).mode & 0o777, 0o600);
  const again = await secret(['unseal', '-f', file, '-a', 'offline_fs_kbc::null']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /FILE_EXISTS/);
  const toStdout = await secret(['unseal', '-f', file, '-a', 'offline_fs_kbc::null', '--output', '-']);
  assert.equal(toStdout.stdout, 'p@ssw0rd\n');
});

test('a kid that is itself a KBS URI is served by the same offline-fs file', async () => {
  setResource('default/signing-key/op', readFileSync(join(dir, 'op-public.json')));
  setResource('default/app/token', 'tok');
  const r = await secret([
    'seal',
    '--signing-kid',
    'kbs:///default/signing-key/op',
    '--signing-jwk-path',
    join(dir, 'op-private.json'),
    'vault',
    '-r',
    'kbs:///default/app/token',
    '-p',
    'kbs',
  ]);
  const u = await secret([
    'unseal',
    '-f',
    fresh(lastLine(r.stdout)),
    '-a',
    'offline_fs_kbc::null',
    '--output',
    '-',
  ]);
  assert.equal(u.code, 0, u.stderr);
  assert.equal(u.stdout, 'tok');
});

test('upstream-signed kata secrets unseal through offline-fs', async () => {
  const v = JSON.parse(readFileSync(vector('upstream-signed.json'), 'utf8'));
  setResource('default/signing-key/sealed-secret', JSON.stringify(v.public_jwk));
  for (const s of v.secrets) {
    setResource(s.name.replace('kbs:///', ''), `value of ${s.name}`);
    const u = await secret(['unseal', '-f', fresh(s.sealed), '-a', 'offline_fs_kbc::null', '--output', '-']);
    assert.equal(u.stdout, `value of ${s.name}`, u.stderr);
  }
});

test('envelope with the kbs provider: KEK from --kek-file at seal, from the KBS at unseal', async () => {
  const kek = randomBytes(32);
  writeFileSync(join(dir, 'kek.bin'), kek);
  setResource('default/kek/app', kek);
  const plain = randomBytes(1000);
  writeFileSync(join(dir, 'plain.bin'), plain);
  const r = await seal([
    'envelope',
    '--key-id',
    'kbs:///default/kek/app',
    '--file-path',
    join(dir, 'plain.bin'),
    'kbs',
    '--kek-file',
    join(dir, 'kek.bin'),
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 1, 'envelope output is the sealed string only');
  const file = fresh(lastLine(r.stdout));
  const u = await secret(['unseal', '-f', file, '-a', 'offline_fs_kbc::null']);
  assert.equal(u.code, 0, u.stderr);
  assert.deepEqual(readFileSync(`${file}.unsealed`), plain);
  const short = await seal([
    'envelope',
    '-k',
    'kbs:///default/kek/app',
    '-f',
    join(dir, 'plain.bin'),
    'kbs',
    '--kek-file',
    join(dir, 'plain.bin'),
  ]);
  assert.equal(short.code, 2);
  assert.match(short.stderr, /32 bytes/);
});

test('inspect: valid, invalid, unchecked, legacy under skip; text and json', async () => {
  const r = await seal(['vault', '-r', 'kbs:///default/app/password', '-p', 'kbs']);
  const file = fresh(lastLine(r.stdout));
  const ok = await secret(['inspect', file]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /signature: valid/);
  const js = await secret(['inspect', '--output', 'json', '-'], readFileSync(file, 'utf8'));
  const report = JSON.parse(js.stdout);
  assert.equal(report.signature.status, 'valid');
  assert.equal(report.header.kid, 'op');
  assert.equal(report.payload.name, 'kbs:///default/app/password');
  const wrong = await secret(['inspect', '--verify-key', vector('test-key.json'), file]);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stdout, /signature: invalid \(SIGNATURE_INVALID/);
  const legacy = fresh(
    `sealed.fakejwsheader.${Buffer.from(readFileSync(vector('payloads', 'vault-2.json'))).toString('base64')}.fakesignature`,
  );
  const skipped = await secret(['inspect', '--skip-verification', legacy]);
  assert.equal(skipped.code, 0, skipped.stderr);
  assert.match(skipped.stdout, /signature: unchecked/);
  const refused = await secret(['inspect', legacy]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /BAD_FORMAT/);
});

test('legacy unsigned secrets unseal only with --skip-verification (padded and unpadded)', async () => {
  setResource('one/2/trois', 'legacy value');
  const json = readFileSync(vector('payloads', 'vault-2.json'));
  for (const body of [json.toString('base64'), json.toString('base64url')]) {
    const file = fresh(`sealed.fakejwsheader.${body}.fakesignature`);
    const refused = await secret(['unseal', '-f', file, '-a', 'offline_fs_kbc::null', '--output', '-']);
    assert.equal(refused.code, 1);
    const u = await secret(['unseal', '-s', '-f', file, '-a', 'offline_fs_kbc::null', '--output', '-']);
    assert.equal(u.stdout, 'legacy value', u.stderr);
    assert.match(u.stderr, /verification is skipped/);
  }
});

test('exit codes: 2 for usage, 1 with one line naming the code, stack only with --debug', async () => {
  assert.equal((await secret(['seal', 'vault', '-r', 'x', '-p', 'kbs'])).code, 2);
  assert.equal((await secret(['frobnicate'])).code, 2);
  assert.equal((await seal(['vault', '-r', 'x', '-p', 'kbs', '--annotations', '[1]'])).code, 2);
  assert.equal((await secret(['--help'])).code, 0);
  const tampered = fresh('sealed.e30.e30.AAAA');
  const r = await secret(['unseal', '-f', tampered, '-a', 'offline_fs_kbc::null']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, /^secret: BAD_FORMAT: /);
  const d = await secret(['--debug', 'unseal', '-f', tampered, '-a', 'offline_fs_kbc::null']);
  assert.match(d.stderr, /at .*sealed-secret/);
  const unknownKid = await seal(['vault', '-r', 'kbs:///a/b/c', '-p', 'kbs']);
  const other = fresh(lastLine(unknownKid.stdout));
  const noKey = await runBin('secret', [
    'unseal',
    '-f',
    other,
    '-a',
    'offline_fs_kbc::null',
    '--verification-key-dir',
    dir,
  ]);
  assert.match(noKey.stderr, /KID_UNKNOWN/);
});

test('--k8s-secret prints the Secret kubectl would create', { skip: skipUnless(needs.kubectl) }, async () => {
  const r = await seal([
    '--k8s-secret',
    'db-creds',
    '--k8s-key',
    'password',
    'vault',
    '-r',
    'kbs:///default/app/password',
    '-p',
    'kbs',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const manifest = parseYaml(r.stdout);
  const sealed = Buffer.from(manifest.data.password, 'base64').toString();
  assert.match(sealed, /^sealed\./);
  const k = spawnSync(
    'kubectl',
    [
      'create',
      'secret',
      'generic',
      'db-creds',
      `--from-literal=password=${sealed}`,
      '--dry-run=client',
      '-o',
      'yaml',
    ],
    { encoding: 'utf8' },
  );
  assert.equal(k.status, 0, k.stderr);
  assert.deepEqual(manifest, parseYaml(k.stdout));
  assert.equal(r.stdout, k.stdout, 'byte-identical YAML');
  const js = await seal([
    '--k8s-secret',
    'db-creds',
    '--namespace',
    'prod',
    '-o',
    'json',
    'vault',
    '-r',
    'kbs:///a/b/c',
    '-p',
    'kbs',
  ]);
  const sealed2 = Buffer.from(JSON.parse(js.stdout).data.secret, 'base64').toString();
  const kj = spawnSync(
    'kubectl',
    [
      'create',
      'secret',
      'generic',
      'db-creds',
      '-n',
      'prod',
      `--from-literal=secret=${sealed2}`,
      '--dry-run=client',
      '-o',
      'json',
    ],
    { encoding: 'utf8' },
  );
  assert.deepEqual(JSON.parse(js.stdout), JSON.parse(kj.stdout));
  const bad = await seal(['--k8s-secret', 'Bad_Name', 'vault', '-r', 'kbs:///a/b/c', '-p', 'kbs']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /DNS-1123/);
});

test('manifests are valid v1 Secrets without kubectl too', async () => {
  const r = await seal([
    '--k8s-secret',
    'x.y-z',
    '--namespace',
    'ns-1',
    'vault',
    '-r',
    'kbs:///a/b/c',
    '-p',
    'kbs',
  ]);
  const m = parseYaml(r.stdout);
  assert.equal(m.apiVersion, 'v1');
  assert.equal(m.kind, 'Secret');
  assert.deepEqual(Object.keys(m.data), ['secret']);
  assert.equal(m.metadata.namespace, 'ns-1');
  assert.ok(existsSync(keyDir));
});
