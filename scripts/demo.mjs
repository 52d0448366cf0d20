#!/usr/bin/env node
// `npm run demo`: the whole life of a sealed secret on one machine, each step printed as it runs.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'cocoseal-demo-'));
const keyDir = join(work, 'verification-keys');
mkdirSync(keyDir);
const resources = {};
const resourceFile = join(work, 'offline-fs-resources.json');
const env = {
  ...process.env,
  OFFLINE_FS_KBC_EXTRA_FILE_PATH: resourceFile,
  COCOSEAL_SEALED_SECRET_KEY_DIR: keyDir,
};
let step = 0;

function say(title) {
  step += 1;
  process.stdout.write(`\n\x1b[1m[${step}] ${title}\x1b[0m\n`);
}

function run(bin, args, { quiet = false } = {}) {
  const shown = args.map((a) => (a.includes(work) ? a.replace(work, '$DEMO') : a)).join(' ');
  process.stdout.write(`$ ${bin} ${shown}\n`);
  const r = spawnSync(process.execPath, [join(root, 'bin', bin), ...args], { env, encoding: 'utf8' });
  if (!quiet && r.stdout) process.stdout.write(r.stdout.replaceAll(work, '$DEMO'));
  if (r.stderr) process.stderr.write(r.stderr.replaceAll(work, '$DEMO'));
  if (r.status !== 0) {
    process.stderr.write(`demo step failed (exit ${r.status})\n`);
    process.exit(1);
  }
  return r.stdout;
}

function putResource(path, bytes) {
  resources[path] = Buffer.from(bytes).toString('base64');
  writeFileSync(resourceFile, JSON.stringify(resources, null, 2));
}

try {
  say('Generate the operator signing key');
  run('secret', ['keygen', '--kid', 'demo-signer', '--output-dir', work]);
  writeFileSync(join(keyDir, 'demo-signer'), readFileSync(join(work, 'demo-signer-public.json')));
  process.stdout.write('public key installed as the guest verification key "demo-signer"\n');

  say('Provision the secret value to the (offline) key broker and seal a vault secret that points to it');
  putResource('default/db/password', 'correct horse battery staple');
  const vault = run('secret', [
    'seal',
    '--signing-kid',
    'demo-signer',
    '--signing-jwk-path',
    join(work, 'demo-signer-private.json'),
    'vault',
    '--resource-uri',
    'kbs:///default/db/password',
    '--provider',
    'kbs',
  ]);
  writeFileSync(join(work, 'vault.sealed'), vault.trim().split('\n').at(-1));

  say('Seal an envelope secret: the value travels encrypted, its data key wrapped by a KBS-held KEK');
  const kek = randomBytes(32);
  writeFileSync(join(work, 'kek.bin'), kek);
  putResource('default/kek/demo', kek);
  writeFileSync(join(work, 'api-token.txt'), 'tok_live_4f9a1c');
  const envelope = run('secret', [
    'seal',
    '--signing-kid',
    'demo-signer',
    '--signing-jwk-path',
    join(work, 'demo-signer-private.json'),
    'envelope',
    '--key-id',
    'kbs:///default/kek/demo',
    '--file-path',
    join(work, 'api-token.txt'),
    'kbs',
    '--kek-file',
    join(work, 'kek.bin'),
  ]);
  writeFileSync(join(work, 'envelope.sealed'), envelope.trim());

  say('Inspect the sealed values (what anyone with the Kubernetes Secret can see)');
  run('secret', ['inspect', join(work, 'envelope.sealed')]);

  say('Kubernetes manifest for the vault secret');
  run('secret', [
    'seal',
    '--signing-kid',
    'demo-signer',
    '--signing-jwk-path',
    join(work, 'demo-signer-private.json'),
    '--k8s-secret',
    'db-credentials',
    '--k8s-key',
    'password',
    'vault',
    '--resource-uri',
    'kbs:///default/db/password',
    '--provider',
    'kbs',
  ]);

  say('Unseal both offline, as the guest would (offline_fs_kbc)');
  run('secret', [
    'unseal',
    '--file-path',
    join(work, 'vault.sealed'),
    '--aa-kbc-params',
    'offline_fs_kbc::null',
  ]);
  run('secret', [
    'unseal',
    '--file-path',
    join(work, 'envelope.sealed'),
    '--aa-kbc-params',
    'offline_fs_kbc::null',
  ]);
  process.stdout.write(`vault    → ${readFileSync(join(work, 'vault.sealed.unsealed'), 'utf8')}\n`);
  process.stdout.write(`envelope → ${readFileSync(join(work, 'envelope.sealed.unsealed'), 'utf8')}\n`);
  process.stdout.write('\ndemo finished\n');
} finally {
  rmSync(work, { recursive: true, force: true });
}
