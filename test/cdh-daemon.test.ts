import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { publishSecret } from './helpers/atomic-writer.js';
import { needs, skipUnless } from './helpers/components.js';
import { type Daemon, startDaemon } from './helpers/daemon.js';
import { buildGoTtrpcClient, runGoTtrpcClient } from './helpers/go-ttrpc-client.js';
import { runBin } from './helpers/run-bin.js';

/*
 * The CDH daemon over its real unix socket, with offline_fs_kbc resources: our client, the Go
 * ttrpc client, `cdh exec`, reason codes, credentials and socket permissions.
 */

const dir = mkdtempSync(join(tmpdir(), 'cdh-daemon-'));
const keyDir = join(dir, 'sealed-secret');
const baseDir = join(dir, 'cdh');
const socket = join(dir, 'cdh.sock');
const resFile = join(dir, 'resources.json');
const resources: Record<string, string> = {};
const setResource = (p: string, v: Buffer | string) => {
  resources[p] = Buffer.from(v).toString('base64');
  writeFileSync(resFile, JSON.stringify(resources));
};
const env = { OFFLINE_FS_KBC_EXTRA_FILE_PATH: resFile, AA_KBC_PARAMS: '' };
let daemon: Daemon;
const sealed: Record<string, string> = {};

async function seal(kid: string, args: string[]): Promise<string> {
  const r = await runBin('secret', [
    'seal',
    '--signing-kid',
    kid,
    '--signing-jwk-path',
    join(dir, 'op-private.json'),
    ...args,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').at(-1)!;
}

before(async () => {
  mkdirSync(keyDir);
  await runBin('secret', ['keygen', '--kid', 'op', '--output-dir', dir]);
  writeFileSync(join(keyDir, 'op'), readFileSync(join(dir, 'op-public.json')));
  setResource('default/signing-key/op', readFileSync(join(dir, 'op-public.json')));
  setResource('default/app/password', 'hunter2');
  setResource('default/aws/credential', '{"access_key_id":"x"}');
  const kek = randomBytes(32);
  writeFileSync(join(dir, 'kek'), kek);
  setResource('default/kek/1', kek);
  writeFileSync(join(dir, 'plain'), 'envelope value');
  sealed.vault = await seal('op', ['vault', '-r', 'kbs:///default/app/password', '-p', 'kbs']);
  sealed.kbsKid = await seal('kbs:///default/signing-key/op', [
    'vault',
    '-r',
    'kbs:///default/app/password',
    '-p',
    'kbs',
  ]);
  sealed.envelope = await seal('op', [
    'envelope',
    '-k',
    'kbs:///default/kek/1',
    '-f',
    join(dir, 'plain'),
    'kbs',
    '--kek-file',
    join(dir, 'kek'),
  ]);
  sealed.missing = await seal('op', ['vault', '-r', 'kbs:///default/app/missing', '-p', 'kbs']);
  sealed.unknownKid = await seal('nobody', ['vault', '-r', 'kbs:///default/app/password', '-p', 'kbs']);
  sealed.tampered = sealed.vault.slice(0, -3) + (sealed.vault.endsWith('AAA') ? 'BBB' : 'AAA');
  const cfg = join(dir, 'cdh.toml');
  writeFileSync(
    cfg,
    `socket = "unix://${socket}"
sealed_secret_key_dir = "${keyDir}"
base_dir = "${baseDir}"
[kbc]
name = "offline_fs_kbc"
[[credentials]]
resource_uri = "kbs:///default/aws/credential"
path = "${baseDir}/kbs/kms-credential/aws/credential.json"
`,
  );
  daemon = await startDaemon('cdh', ['-c', cfg], { env, readyLine: /^cdh listening on / });
});

after(async () => {
  await daemon?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const cdh = (args: string[], input?: string) =>
  runBin('cdh', ['--socket', `unix://${socket}`, ...args], { env, input });
const file = (name: string, content: string) => {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
};

test('socket is 0600 and credentials were provisioned at start', () => {
  assert.ok(statSync(socket).isSocket());
  assert.equal(statSync(socket).mode & 0o777, 0o600);
  assert.equal(
    readFileSync(join(baseDir, 'kbs', 'kms-credential', 'aws', 'credential.json'), 'utf8'),
    '{"access_key_id":"x"}',
  );
});

test('cdh unseal-secret / get-resource through the socket (vault, kbs kid, envelope, trailing newline)', async () => {
  for (const [k, want] of [
    ['vault', 'hunter2'],
    ['kbsKid', 'hunter2'],
    ['envelope', 'envelope value'],
  ] as const) {
    const r = await cdh(['unseal-secret', '--secret-path', file(`${k}.sealed`, `${sealed[k]}\n`)]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, want);
  }
  const g = await cdh(['get-resource', '--resource-path', 'kbs:///default/app/password']);
  assert.equal(g.stdout, 'hunter2');
});

test('failures carry a stable reason code and never the plaintext', async () => {
  const cases: [string, RegExp][] = [
    ['tampered', /SIGNATURE_INVALID/],
    ['missing', /RESOURCE_NOT_FOUND/],
    ['unknownKid', /KID_UNKNOWN/],
  ];
  for (const [k, reason] of cases) {
    const r = await cdh(['unseal-secret', '--secret-path', file(`${k}.sealed`, sealed[k])]);
    assert.equal(r.code, 1, k);
    assert.match(r.stderr, reason);
    assert.doesNotMatch(r.stderr, /hunter2/);
  }
  const bad = await cdh(['unseal-secret', '--secret-path', file('garbage', 'sealed.!!!')]);
  assert.match(bad.stderr, /BAD_FORMAT/);
});

describe('the Go ttrpc client against our daemon', { skip: skipUnless(needs.goTtrpc) }, () => {
  let go = '';
  before(async () => {
    go = await buildGoTtrpcClient();
  });

  test('UnsealSecret and GetResource', async () => {
    const u = await runGoTtrpcClient(go, [
      '-socket',
      socket,
      'unseal-secret',
      file('go.sealed', sealed.envelope),
    ]);
    assert.equal(u.exitCode, 0, u.stderr);
    assert.equal(Buffer.from(u.stdout.trim(), 'base64').toString(), 'envelope value');
    const g = await runGoTtrpcClient(go, ['-socket', socket, 'get-resource', 'kbs:///default/app/password']);
    assert.equal(Buffer.from(g.stdout.trim(), 'base64').toString(), 'hunter2');
  });

  test('errors: code 13 with the upstream prefix and our reason; WrapKey NOT_FOUND; SecureMount unsupported', async () => {
    const u = await runGoTtrpcClient(go, [
      '-socket',
      socket,
      'unseal-secret',
      file('go-bad.sealed', sealed.tampered),
    ]);
    assert.equal(u.status?.code, 13);
    assert.match(u.status?.message ?? '', /^\[CDH\] \[ERROR\]: Unseal Secret failed: SIGNATURE_INVALID: /);
    const w = await runGoTtrpcClient(go, [
      '-socket',
      socket,
      'raw',
      'keyprovider.KeyProviderService',
      'WrapKey',
      '',
    ]);
    assert.equal(w.status?.code, 5);
    const m = await runGoTtrpcClient(go, [
      '-socket',
      socket,
      'raw',
      'api.SecureMountService',
      'SecureMount',
      '',
    ]);
    assert.equal(m.status?.code, 13);
    assert.match(m.status?.message ?? '', /not supported/);
  });
});

test('cdh exec through the daemon: env and kubelet-laid files, fail-closed', async () => {
  const vol = join(dir, 'volume');
  publishSecret(vol, { password: sealed.vault, note: 'plain text' });
  const script = `process.stdout.write(process.env.DB + '|' + require('fs').readFileSync(${JSON.stringify(join(vol, 'password'))}, 'utf8') + '|' + require('fs').readFileSync(${JSON.stringify(join(vol, 'note'))}, 'utf8'))`;
  const ok = await runBin(
    'cdh',
    ['--socket', `unix://${socket}`, 'exec', '--dir', vol, '--', process.execPath, '-e', script],
    {
      env: { ...env, DB: sealed.envelope },
    },
  );
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout, 'envelope value|hunter2|plain text');
  const closed = await runBin(
    'cdh',
    ['--socket', `unix://${socket}`, 'exec', '--', process.execPath, '-e', 'process.stdout.write("started")'],
    {
      env: { ...env, DB: sealed.tampered },
    },
  );
  assert.equal(closed.code, 1);
  assert.equal(closed.stdout, '');
  assert.match(closed.stderr, /environment variable DB: SIGNATURE_INVALID/);
});

test('cdh exec in-process (no daemon) with -c', async () => {
  const r = await runBin(
    'cdh',
    [
      '-c',
      join(dir, 'cdh.toml'),
      'exec',
      '--',
      process.execPath,
      '-e',
      'process.stdout.write(process.env.X)',
    ],
    {
      env: { ...env, X: sealed.kbsKid },
    },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hunter2');
});

test('a second daemon on a live socket refuses to start; SIGTERM stops cleanly', async () => {
  await assert.rejects(
    startDaemon('cdh', ['-c', join(dir, 'cdh.toml')], { env, readyLine: /^cdh listening/ }),
    /exited with 1/,
  );
});
