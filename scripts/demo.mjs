#!/usr/bin/env node
// `npm run demo`: the whole life of a sealed secret on one machine, each step printed as it runs:
// a KBS, an operator who seals and provisions, a Kubernetes Secret, the CDH in the "guest", and a
// workload that receives the plaintext as an environment variable and as a file.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';

const root = new URL('..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'cocoseal-demo-'));
const w = (...p) => join(work, ...p);
const daemons = [];
let step = 0;

const show = (s) => s.replaceAll(work, '$DEMO');
function say(title) {
  step += 1;
  process.stdout.write(`\n\x1b[1m[${step}] ${title}\x1b[0m\n`);
}

function run(bin, args, { quiet = false, env = {} } = {}) {
  process.stdout.write(`$ ${bin} ${show(args.join(' '))}\n`);
  const r = spawnSync(process.execPath, [join(root, 'bin', bin), ...args], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  if (!quiet && r.stdout) process.stdout.write(show(r.stdout));
  if (r.stderr) process.stderr.write(show(r.stderr));
  if (r.status !== 0) throw new Error(`demo step failed (exit ${r.status})`);
  return r.stdout;
}

/** Starts a program and resolves with the first stdout line matching `ready`. */
function start(bin, args, ready) {
  process.stdout.write(`$ ${bin} ${show(args.join(' '))} &\n`);
  const child = spawn(process.execPath, [join(root, 'bin', bin), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  daemons.push(child);
  let err = '';
  child.stderr.on('data', (c) => {
    err += c;
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c) => {
      out += c;
      const line = out.split('\n').find((l) => ready.test(l));
      if (line) {
        process.stdout.write(`  ${show(line)}\n`);
        resolve(line);
      }
    });
    child.on('exit', (code) => reject(new Error(`${bin} exited (${code}): ${err}`)));
  });
}

/** Lays Secret data out as the kubelet's atomic writer does (timestamp dir, ..data, per-key links). */
function kubeletVolume(dir, data) {
  const ts = `..${new Date().toISOString().replace(/[-:T]/g, '_').replace(/\..*/, '')}.1`;
  mkdirSync(join(dir, ts), { recursive: true });
  for (const [k, v] of Object.entries(data))
    writeFileSync(join(dir, ts, k), Buffer.from(v, 'base64'), { mode: 0o644 });
  symlinkSync(ts, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const k of Object.keys(data)) symlinkSync(join('..data', k), join(dir, k));
}

try {
  say('Start a Key Broker Service (TLS, authenticated admin API, SQLite storage)');
  run('kbs', ['init', '--dir', w('kbs'), '--port', '0'], { quiet: true });
  const kbsUrl = /kbs listening on (\S+)/.exec(
    await start('kbs', ['-c', w('kbs', 'kbs-config.toml')], /kbs listening on/),
  )[1];
  const kc = ['--url', kbsUrl, '--cert-file', w('kbs', 'tls.crt')];
  const admin = [...kc, 'config', '--admin-token-file', w('kbs', 'admin-token')];
  // The demo guest has no TEE, so it presents `sample` evidence, which the default policy refuses.
  run('kbs-client', [...admin, 'set-resource-policy', '--allow-all']);

  say('Operator: create a signing key and register its public half in the KBS');
  run('secret', ['keygen', '--kid', 'demo-signer', '--output-dir', work]);
  run('kbs-client', [
    ...admin,
    'set-resource',
    '--path',
    'default/signing-key/demo-signer',
    '--resource-file',
    w('demo-signer-public.json'),
  ]);
  const sign = [
    '--signing-kid',
    'kbs:///default/signing-key/demo-signer',
    '--signing-jwk-path',
    w('demo-signer-private.json'),
  ];

  say('Operator: seal a vault secret and upload its value in one step, as a Kubernetes Secret manifest');
  writeFileSync(w('db-password.txt'), 'correct horse battery staple');
  const manifest = run('secret', [
    'seal',
    ...sign,
    '--k8s-secret',
    'db-credentials',
    '--k8s-key',
    'password',
    'vault',
    '--resource-uri',
    'kbs:///default/db/password',
    '--provider',
    'kbs',
    '--upload-from',
    w('db-password.txt'),
    '--kbs-url',
    kbsUrl,
    '--admin-token-file',
    w('kbs', 'admin-token'),
    '--cert-file',
    w('kbs', 'tls.crt'),
  ]);
  writeFileSync(w('db-credentials.yaml'), manifest);

  say(
    'Operator: seal an envelope secret (the value travels encrypted; its data key is wrapped by a KBS-held KEK)',
  );
  writeFileSync(w('kek.bin'), randomBytes(32));
  run('kbs-client', [
    ...admin,
    'set-resource',
    '--path',
    'default/kek/demo',
    '--resource-file',
    w('kek.bin'),
  ]);
  writeFileSync(w('api-token.txt'), 'tok_live_4f9a1c');
  const envelope = run('secret', [
    'seal',
    ...sign,
    'envelope',
    '--key-id',
    'kbs:///default/kek/demo',
    '--file-path',
    w('api-token.txt'),
    'kbs',
    '--kek-file',
    w('kek.bin'),
  ]).trim();
  writeFileSync(w('envelope.sealed'), envelope);
  run('secret', ['inspect', '--verify-key', w('demo-signer-public.json'), w('envelope.sealed')]);

  say('Guest: start the Confidential Data Hub (attests to the KBS with the sample TEE)');
  writeFileSync(
    w('cdh.toml'),
    `socket = "unix://${w('cdh.sock')}"\nbase_dir = "${w('cdh')}"\n[kbc]\nname = "cc_kbc"\nurl = "${kbsUrl}"\nkbs_cert = """\n${readFileSync(w('kbs', 'tls.crt'), 'utf8')}"""\n[attester]\ntype = "sample"\n`,
  );
  await start('cdh', ['-c', w('cdh.toml')], /cdh listening/);

  say('Guest: the Pod gets the Secret as a volume (kubelet layout) and as an env var; cdh exec unseals both');
  const secret = parseYaml(manifest);
  kubeletVolume(w('pod', 'secret-volume'), secret.data);
  const workload = `echo "PASSWORD=$PASSWORD"; echo "API_TOKEN=$API_TOKEN"; echo "file: $(cat ${w('pod', 'secret-volume', 'password')})"`;
  const out = run(
    'cdh',
    [
      '--socket',
      `unix://${w('cdh.sock')}`,
      'exec',
      '--dir',
      w('pod', 'secret-volume'),
      '--',
      'sh',
      '-c',
      workload,
    ],
    {
      env: { PASSWORD: Buffer.from(secret.data.password, 'base64').toString(), API_TOKEN: envelope },
      quiet: true,
    },
  );
  process.stdout.write(`${out.trimEnd().replace(/^/gm, '  workload> ')}\n`);

  say('A tampered secret never reaches the workload (fail-closed)');
  const tampered = `${envelope.slice(0, -4)}AAAA`;
  const r = spawnSync(
    process.execPath,
    [
      join(root, 'bin', 'cdh'),
      '--socket',
      `unix://${w('cdh.sock')}`,
      'exec',
      '--',
      'sh',
      '-c',
      'echo started',
    ],
    {
      env: { ...process.env, API_TOKEN: tampered },
      encoding: 'utf8',
    },
  );
  process.stdout.write(`  exit ${r.status}: ${r.stderr.trim().split('\n')[0]}\n`);
  process.stdout.write('\ndemo finished\n');
} catch (e) {
  process.stderr.write(`${e.message}\n`);
  process.exitCode = 1;
} finally {
  for (const d of daemons) d.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
