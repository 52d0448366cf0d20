import assert from 'node:assert/strict';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { publishSecret } from '../../../test/helpers/atomic-writer.js';
import { SealedSecretError } from '../../sealed/errors.js';
import type { Unsealer } from '../hub.js';
import { cdhExec, prepareWorkload } from './exec.js';
import { unsealEnvironment } from './unseal-env.js';
import { unsealDirectory } from './unseal-files.js';
import { watchDirectory } from './watch.js';

const root = mkdtempSync(join(tmpdir(), 'cdh-delivery-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `d${++n}`);

/** `sealed.<x>` unseals to `plain-<x>`; `sealed.bad…` fails like a bad signature. */
const fake: Unsealer & { calls: string[] } = {
  calls: [],
  async unseal(b) {
    const s = Buffer.from(b).toString('utf8');
    this.calls.push(s);
    if (s.startsWith('sealed.bad'))
      throw new SealedSecretError('SIGNATURE_INVALID', 'Signature Error: does not verify');
    return Buffer.from(`plain-${s.slice('sealed.'.length)}`);
  },
};

test('atomic-writer layout: the entry link points at <target>.unsealed beside the real file, mode copied', async () => {
  const dir = freshDir();
  const ts = publishSecret(dir, { password: 'sealed.pw', plain: 'not sealed', short: 'sealed' }, 0o640);
  const out = await unsealDirectory(dir, fake);
  assert.deepEqual(out, [{ entry: join(dir, 'password'), status: 'unsealed' }]);
  assert.equal(readFileSync(join(dir, 'password'), 'utf8'), 'plain-pw');
  assert.equal(readlinkSync(join(dir, 'password')), `${ts}/password.unsealed`);
  assert.equal(readFileSync(join(dir, ts, 'password'), 'utf8'), 'sealed.pw', 'the sealed file is untouched');
  assert.equal(statSync(join(dir, ts, 'password.unsealed')).mode & 0o777, 0o640);
  assert.equal(readFileSync(join(dir, 'plain'), 'utf8'), 'not sealed');
  assert.equal(readFileSync(join(dir, 'short'), 'utf8'), 'sealed');
  assert.deepEqual(await unsealDirectory(dir, fake), [], 'a second pass finds nothing left to do');
});

test('plain files get a link that does not dangle; sockets, dirs and failures are reported per file', async () => {
  const dir = freshDir();
  mkdirSync(join(dir, 'subdir'), { recursive: true });
  writeFileSync(join(dir, 'token'), 'sealed.tok', { mode: 0o600 });
  writeFileSync(join(dir, 'broken'), 'sealed.bad-one');
  writeFileSync(join(dir, 'subdir', 'x'), 'sealed.x');
  symlinkSync('/nonexistent', join(dir, 'dangling'));
  const out = await unsealDirectory(dir, fake);
  assert.deepEqual(
    out.map((o) => [o.entry.slice(dir.length + 1), o.status]),
    [
      ['broken', 'error'],
      ['token', 'unsealed'],
    ],
  );
  assert.match(out[0].error ?? '', /^SIGNATURE_INVALID: /);
  assert.equal(readFileSync(join(dir, 'token'), 'utf8'), 'plain-tok');
  assert.ok(lstatSync(join(dir, 'token')).isSymbolicLink());
  assert.equal(
    readFileSync(join(dir, 'broken'), 'utf8'),
    'sealed.bad-one',
    'a failed file is left as it was',
  );
});

test('environment: sealed values replaced, others untouched, failures named', async () => {
  const { env, outcomes } = await unsealEnvironment(
    { A: 'sealed.a', B: 'plain', C: 'sealed.bad', D: 'xsealed.d' },
    fake,
  );
  assert.equal(env.A, 'plain-a');
  assert.equal(env.B, 'plain');
  assert.equal(env.C, 'sealed.bad');
  assert.equal(env.D, 'xsealed.d');
  assert.deepEqual(
    outcomes.map((o) => [o.name, o.status]),
    [
      ['A', 'unsealed'],
      ['C', 'error'],
    ],
  );
});

test('exec: fail-closed by default, --fail-open starts anyway, exit codes propagate', async () => {
  const dir = freshDir();
  publishSecret(dir, { key: 'sealed.file' });
  const lines: string[] = [];
  const report = (l: string) => lines.push(l);
  const marker = join(root, 'started');
  const script = `require('fs').writeFileSync(${JSON.stringify(marker)}, process.env.SECRET + '|' + require('fs').readFileSync(${JSON.stringify(join(dir, 'key'))}, 'utf8')); process.exit(7)`;
  const cmd = [process.execPath, '-e', script];
  const closed = await cdhExec({
    command: cmd,
    dirs: [dir],
    failOpen: false,
    unsealer: fake,
    env: { SECRET: 'sealed.bad', PATH: process.env.PATH },
    report,
  });
  assert.equal(closed, 1);
  assert.ok(
    lines.some((l) => /environment variable SECRET: SIGNATURE_INVALID/.test(l)),
    lines.join('\n'),
  );
  assert.throws(() => readFileSync(marker), 'the command did not start');
  const open = await cdhExec({
    command: cmd,
    dirs: [dir],
    failOpen: true,
    unsealer: fake,
    env: { SECRET: 'sealed.bad', PATH: process.env.PATH },
    report,
  });
  assert.equal(open, 7);
  assert.equal(readFileSync(marker, 'utf8'), 'sealed.bad|plain-file');
  const ok = await cdhExec({
    command: cmd,
    dirs: [],
    failOpen: false,
    unsealer: fake,
    env: { SECRET: 'sealed.s' },
    report,
  });
  assert.equal(ok, 7);
  assert.equal(readFileSync(marker, 'utf8'), 'plain-s|plain-file');
  assert.equal(
    await cdhExec({
      command: ['/nonexistent/cmd'],
      dirs: [],
      failOpen: false,
      unsealer: fake,
      env: {},
      report,
    }),
    127,
  );
});

test('prepareWorkload reports a missing directory', async () => {
  const r = await prepareWorkload({ dirs: [join(root, 'nope')], unsealer: fake, env: {} });
  assert.equal(r.failures.length, 1);
  assert.match(r.failures[0], /^directory /);
});

test('watch: a Secret update (new ..data) is unsealed again', async () => {
  const dir = freshDir();
  publishSecret(dir, { password: 'sealed.v1' });
  const ac = new AbortController();
  const passes: number[] = [];
  let resolveSecond: () => void = () => {};
  const second = new Promise<void>((r) => {
    resolveSecond = r;
  });
  const watching = watchDirectory({
    dir,
    unsealer: fake,
    signal: ac.signal,
    pollMs: 100,
    onPass: (o) => {
      passes.push(o.filter((x) => x.status === 'unsealed').length);
      if (passes.filter((p) => p > 0).length >= 2) resolveSecond();
    },
  });
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(readFileSync(join(dir, 'password'), 'utf8'), 'plain-v1');
  publishSecret(dir, { password: 'sealed.v2' });
  await second;
  assert.equal(readFileSync(join(dir, 'password'), 'utf8'), 'plain-v2');
  ac.abort();
  await watching;
});
