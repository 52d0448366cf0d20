import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadCdhConfig, parseCmdline } from './config.js';
import { CdhError } from './errors.js';

const dir = mkdtempSync(join(tmpdir(), 'cdh-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const invalid = (e: unknown) => e instanceof CdhError && e.code === 'CONFIG_INVALID';

test('a file with only [kbc] name is valid and takes the defaults', () => {
  const c = loadCdhConfig({
    file: file('min.toml', '[kbc]\nname = "offline_fs_kbc"\n'),
    env: {},
    cmdline: '',
  });
  assert.equal(c.socket, 'unix:///run/confidential-containers/cdh.sock');
  assert.deepEqual(c.kbc, { name: 'offline_fs_kbc', url: '', kbsCert: undefined });
  assert.deepEqual(c.credentials, []);
  assert.equal(c.skipSealedSecretVerification, false);
  assert.equal(c.logLevel, 'info');
});

test('the upstream example file, JSON and YAML forms', () => {
  const toml = `socket = "unix:///tmp/x.sock"
skip_sealed_secret_verification = true
[kbc]
name = "cc_kbc"
url = "http://10.0.0.1:8080"
kbs_cert = "PEM"
[aa]
aa_socket = "unix:///aa.sock"
[[credentials]]
resource_uri = "kbs:///default/aws/credential"
path = "/run/confidential-containers/cdh/kbs/kms-credential/aws/credential.json"
[log]
level = "debug"
[image]
whatever = 1
`;
  const c = loadCdhConfig({ file: file('full.toml', toml), env: {}, cmdline: '' });
  assert.equal(c.socket, 'unix:///tmp/x.sock');
  assert.deepEqual(c.kbc, { name: 'cc_kbc', url: 'http://10.0.0.1:8080', kbsCert: 'PEM' });
  assert.equal(c.aaSocket, 'unix:///aa.sock');
  assert.equal(c.credentials.length, 1);
  assert.equal(c.skipSealedSecretVerification, true);
  assert.equal(c.logLevel, 'debug');
  const j = loadCdhConfig({
    file: file('c.json', JSON.stringify({ kbc: { name: 'cc_kbc', url: 'https://kbs' } })),
    env: {},
    cmdline: '',
  });
  assert.equal(j.kbc.url, 'https://kbs');
  const y = loadCdhConfig({ file: file('c.yaml', 'kbc:\n  name: offline_fs_kbc\n'), env: {}, cmdline: '' });
  assert.equal(y.kbc.name, 'offline_fs_kbc');
});

test('precedence: env AA_KBC_PARAMS beats the file; without a file env, then the kernel cmdline', () => {
  const f = file('cc.toml', '[kbc]\nname = "cc_kbc"\nurl = "http://file:8080"\n');
  assert.equal(
    loadCdhConfig({ file: f, env: { AA_KBC_PARAMS: 'cc_kbc::http://env:1' }, cmdline: '' }).kbc.url,
    'http://env:1',
  );
  assert.equal(
    loadCdhConfig({ file: f, env: {}, cmdline: 'agent.aa_kbc_params=cc_kbc::http://cmd:2' }).kbc.url,
    'http://file:8080',
  );
  assert.equal(
    loadCdhConfig({ env: {}, cmdline: 'quiet agent.aa_kbc_params=cc_kbc::http://cmd:2' }).kbc.url,
    'http://cmd:2',
  );
  assert.equal(
    loadCdhConfig({
      env: { AA_KBC_PARAMS: 'cc_kbc::http://env:1' },
      cmdline: 'agent.aa_kbc_params=cc_kbc::http://cmd:2',
    }).kbc.url,
    'http://env:1',
  );
  assert.deepEqual(loadCdhConfig({ env: {}, cmdline: '' }).kbc, { name: 'offline_fs_kbc', url: '' });
  assert.equal(
    loadCdhConfig({ env: { AA_SOCKET: 'unix:///env.sock' }, cmdline: '' }).aaSocket,
    'unix:///env.sock',
  );
});

test('IPv6 KBS URLs work (split on the first ::)', () => {
  const c = loadCdhConfig({ env: { AA_KBC_PARAMS: 'cc_kbc::http://[::1]:8080' }, cmdline: '' });
  assert.deepEqual(c.kbc, { name: 'cc_kbc', url: 'http://[::1]:8080' });
});

test('kernel cmdline cdh.kbs_resources adds credentials', () => {
  assert.deepEqual(
    parseCmdline('a cdh.kbs_resources=kbs:///a/b/c::/run/x,kbs:///d/e/f::/run/y b').credentials,
    [
      { resourceUri: 'kbs:///a/b/c', path: '/run/x' },
      { resourceUri: 'kbs:///d/e/f', path: '/run/y' },
    ],
  );
  const c = loadCdhConfig({
    env: {},
    cmdline: 'cdh.kbs_resources=kbs:///a/b/c::/run/confidential-containers/cdh/kbs/x',
  });
  assert.equal(c.credentials.length, 1);
});

test('errors name the problem: missing kbc name, empty credentials table, bad socket scheme, unknown kbc, bad TOML', () => {
  assert.throws(
    () => loadCdhConfig({ file: file('nokbc.toml', 'socket = "unix:///x"\n'), env: {}, cmdline: '' }),
    /\[kbc\] name is required/,
  );
  assert.throws(
    () =>
      loadCdhConfig({
        file: file('cred.toml', '[kbc]\nname = "offline_fs_kbc"\n[[credentials]]\n'),
        env: {},
        cmdline: '',
      }),
    /credentials\[0\]/,
  );
  assert.throws(
    () =>
      loadCdhConfig({
        file: file('sock.toml', 'socket = "/tmp/x"\n[kbc]\nname = "offline_fs_kbc"\n'),
        env: {},
        cmdline: '',
      }),
    /socket address scheme/,
  );
  assert.throws(
    () => loadCdhConfig({ env: { AA_KBC_PARAMS: 'foo_kbc::x' }, cmdline: '' }),
    /unknown kbc name foo_kbc/,
  );
  assert.throws(() => loadCdhConfig({ file: file('bad.toml', '[kbc\n'), env: {}, cmdline: '' }), invalid);
  assert.throws(() => loadCdhConfig({ file: join(dir, 'missing.toml'), env: {}, cmdline: '' }), invalid);
  assert.throws(() => loadCdhConfig({ env: { AA_KBC_PARAMS: 'cc_kbc::not a url' }, cmdline: '' }), invalid);
});
