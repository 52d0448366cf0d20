import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { KbsAdminClient } from '../src/kbs-client/admin.js';
import { KbsResourceGetter } from '../src/kbs-client/resource-getter.js';
import { KmsError } from '../src/kms/errors.js';
import { binDir } from './helpers/paths.js';

/*
 * End to end: our `kbs` and `kbs-client` programs over real HTTPS on loopback (kbs-protocol.md §14).
 * `kbs init` writes the TLS certificate, token signer and admin credentials; each test drives the
 * client as a user would and checks exit codes, output and the bytes released.
 * Needs a build (`npm run build`): the programs run from dist/.
 */

const NODE = process.execPath;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(
  bin: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      NODE,
      [join(binDir, bin), ...args],
      { cwd: opts.cwd, env: { ...process.env, ...opts.env }, timeout: 60_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

interface KbsProcess {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** Starts `bin/kbs -c <config>` and waits for its readiness line. */
function startKbs(config: string): Promise<KbsProcess> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(NODE, [join(binDir, 'kbs'), '-c', config], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kbs did not become ready in 30 s: ${err}`));
    }, 30_000);
    child.stderr!.on('data', (d) => {
      err = (err + d).slice(-4000);
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kbs exited (${code}) before it was ready: ${err}`));
    });
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /kbs listening on (\S+)/.exec(out);
      if (!m) return;
      clearTimeout(timer);
      const url = m[1];
      resolve({
        url,
        port: Number(new URL(url).port),
        async stop() {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGTERM');
            const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
            await exited;
            clearTimeout(t);
          }
        },
      });
    });
  });
}

async function ipv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

const dir = mkdtempSync(join(tmpdir(), 'kbs-e2e-'));
const f = (name: string) => join(dir, name);
const servers: KbsProcess[] = [];
let kbs: KbsProcess;
/** `kbs-client --url <kbs> --cert-file tls.crt ...`, run in an isolated cwd/HOME. */
const client = (args: string[], url = kbs.url) =>
  run('kbs-client', ['--url', url, '--cert-file', f('tls.crt'), ...args], { cwd: dir, env: { HOME: dir } });
const config = (args: string[], url?: string) =>
  client(['config', '--admin-token-file', f('admin-token'), ...args], url);
const secret = randomBytes(16);

function ok(r: Run, what: string): string {
  assert.equal(r.code, 0, `${what} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

/** A failure: exit 1, one line naming the code, no stack trace. */
function fails(r: Run, code: string, detail?: RegExp): void {
  assert.equal(r.code, 1, `expected failure, got ${r.code}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, new RegExp(`^kbs-client: ${code}: `, 'm'));
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace without --debug');
  if (detail) assert.match(r.stderr, detail);
}

/** The config `kbs init` wrote, with a different listen socket and optional table changes. */
interface ConfigDoc {
  http_server: Record<string, unknown>;
  attestation_token: Record<string, unknown>;
  attestation_service: Record<string, unknown> & { attestation_token_broker?: Record<string, unknown> };
  storage_backend: Record<string, unknown>;
  [table: string]: unknown;
}

function deriveConfig(name: string, change: (doc: ConfigDoc) => void): string {
  const doc = parseToml(readFileSync(f('kbs-config.toml'), 'utf8')) as unknown as ConfigDoc;
  change(doc);
  writeFileSync(f(name), stringifyToml(doc), { mode: 0o600 });
  return f(name);
}

before(async () => {
  ok(await run('kbs', ['init', '--dir', dir, '--port', '0']), 'kbs init');
  writeFileSync(f('secret.bin'), secret);
  kbs = await startKbs(f('kbs-config.toml'));
  servers.push(kbs);
  // Pin the port so that a restart keeps the URL.
  deriveConfig('kbs-config.toml', (d) => {
    d.http_server.sockets = [`127.0.0.1:${kbs.port}`];
  });
});

after(async () => {
  for (const s of servers) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('kbs-client against kbs over HTTPS', () => {
  test('background check: RCAR, cookie, EC P-256 TEE key; the secret is byte-identical', async () => {
    ok(
      await config(['set-resource', '--path', 'one/two/three', '--resource-file', f('secret.bin')]),
      'set-resource',
    );
    // §14 A3: only plugin resource, only this path, and only sample evidence.
    writeFileSync(
      f('sample-only.cel'),
      'data.plugin == "resource" && data["resource-path"] == ["one", "two", "three"] &&\n' +
        '"sample" in input.submods.cpu0["ear.veraison.annotated-evidence"]\n',
    );
    const set = ok(
      await config(['set-resource-policy', '--policy-file', f('sample-only.cel')]),
      'set-resource-policy',
    );
    assert.match(set, /^Set resource policy success \n policy: [A-Za-z0-9_-]+\n$/);
    const out = ok(await client(['get-resource', '--path', 'one/two/three']), 'get-resource');
    assert.deepEqual(Buffer.from(out.trim(), 'base64'), secret);
    assert.match(out, /^[A-Za-z0-9+/]+={0,2}\n$/, 'standard base64 on one line');
  });

  test('passport: attest with an RSA-2048 key, then Bearer at the issuer and at a resource-only KBS', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    writeFileSync(f('tee.key'), rsa.export({ format: 'pem', type: 'pkcs1' }), { mode: 0o600 });
    const token = ok(await client(['attest', '--tee-key-file', f('tee.key')]), 'attest').trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    writeFileSync(f('token'), `${token}\n`);
    const viaToken = [
      'get-resource',
      '--path',
      'one/two/three',
      '--attestation-token',
      f('token'),
      '--tee-key-file',
      f('tee.key'),
    ];
    assert.deepEqual(Buffer.from(ok(await client(viaToken), 'bearer at issuer').trim(), 'base64'), secret);

    // §14 A4: a KBS without an attestation service that trusts the issuer's signer certificate.
    const resourceKbs = await startKbs(
      deriveConfig('resource-kbs.toml', (d) => {
        d.http_server = { sockets: ['127.0.0.1:0'], insecure_http: true };
        d.attestation_service = { type: 'none' };
        d.storage_backend = { storage_type: 'Memory' };
      }),
    );
    servers.push(resourceKbs);
    ok(
      await config(
        ['set-resource', '--path', 'one/two/three', '--resource-file', f('secret.bin')],
        resourceKbs.url,
      ),
      'set',
    );
    ok(
      await config(['set-resource-policy', '--policy-file', f('sample-only.cel')], resourceKbs.url),
      'policy',
    );
    assert.deepEqual(
      Buffer.from(ok(await client(viaToken, resourceKbs.url), 'bearer').trim(), 'base64'),
      secret,
    );
    // The resource-only KBS cannot attest, and says so.
    fails(await client(['attest'], resourceKbs.url), 'ATTESTATION_FAILED', /resource-only KBS/);
    await resourceKbs.stop();

    // --attestation-token needs the TEE key, and the key must be the token's.
    const usage = await client([
      'get-resource',
      '--path',
      'one/two/three',
      '--attestation-token',
      f('token'),
    ]);
    assert.equal(usage.code, 2, usage.stderr);
    writeFileSync(
      f('other.key'),
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }),
    );
    const wrong = [
      'get-resource',
      '--path',
      'one/two/three',
      '--attestation-token',
      f('token'),
      '--tee-key-file',
      f('other.key'),
    ];
    fails(await client(wrong), 'INVALID_ARGUMENT', /tee-pubkey/);
  });

  test('attest sends init-data: the token carries its digest and claims', async () => {
    const toml = 'version = "0.1.0"\nalgorithm = "sha256"\n\n[data]\n"note" = "hello"\n';
    writeFileSync(f('initdata.toml'), toml);
    const token = ok(await client(['attest', f('initdata.toml')]), 'attest with init-data').trim();
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));
    const ae = claims.submods.cpu0['ear.veraison.annotated-evidence'];
    assert.equal(ae.init_data, createHash('sha256').update(toml).digest('base64'));
    assert.deepEqual(ae.init_data_claims, { note: 'hello' });
  });

  test('admin: minted tokens work; a wrong key or a role without access is refused with the KBS reason', async () => {
    const mint = async (key: string, role: string) =>
      ok(
        await run('kbs-client', [
          'admin-token',
          '--private-key',
          key,
          '--role',
          role,
          '--ttl',
          '10m',
          '--issuer',
          'cocoseal-kbs-init',
          '--audience',
          'kbs',
        ]),
        'admin-token',
      ).trim();
    writeFileSync(f('minted-token'), await mint(f('admin.key'), 'admin'));
    const withToken = (file: string, args: string[]) =>
      client(['config', '--admin-token-file', file, ...args]);
    ok(await withToken(f('minted-token'), ['get-resource-policy']), 'minted admin token');

    writeFileSync(
      f('stranger.key'),
      generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }),
    );
    writeFileSync(f('stranger-token'), await mint(f('stranger.key'), 'admin'));
    fails(
      await withToken(f('stranger-token'), ['set-resource-policy', '--allow-all']),
      'ADMIN_DENIED',
      /Cannot verify token with any of the issuers/,
    );
    // Resource writes are plugin admin calls: upstream reports them as AdminAuthInitialization.
    fails(
      await withToken(f('stranger-token'), [
        'set-resource',
        '--path',
        'a/b/c',
        '--resource-file',
        f('secret.bin'),
      ]),
      'ADMIN_DENIED',
      /AdminAuthInitialization/,
    );

    writeFileSync(f('tester-token'), await mint(f('admin.key'), 'tester'));
    fails(
      await withToken(f('tester-token'), ['get-resource-policy']),
      'ADMIN_DENIED',
      /Role tester not allowed/,
    );

    // No token at all (no default token files in cwd or HOME): refused, not crashed.
    fails(await client(['config', 'get-resource-policy']), 'ADMIN_DENIED');
  });

  test('resource policies: allow-all, deny-all, and the default refuses the sample TEE', async () => {
    writeFileSync(f('shh'), 'shhhhhhh');
    ok(
      await config(['set-resource', '--path', 'default/test/secret', '--resource-file', f('shh')]),
      'set-resource',
    );
    const get = () => client(['get-resource', '--path', 'default/test/secret']);

    ok(await config(['set-resource-policy', '--allow-all']), 'allow-all');
    assert.equal(Buffer.from(ok(await get(), 'get').trim(), 'base64').toString(), 'shhhhhhh');

    ok(await config(['set-resource-policy', '--deny-all']), 'deny-all');
    fails(await get(), 'UNAUTHORIZED', /PolicyDeny/);

    ok(await config(['set-resource-policy', '--default']), 'default');
    fails(await get(), 'UNAUTHORIZED', /PolicyDeny/);

    assert.deepEqual(JSON.parse(ok(await config(['get-resource-policy']), 'get-resource-policy')), [
      'resource-policy',
    ]);

    // A missing resource is reported as such, not as a policy problem.
    ok(await config(['set-resource-policy', '--allow-all']), 'allow-all');
    fails(await client(['get-resource', '--path', 'default/test/missing']), 'RESOURCE_NOT_FOUND');
    ok(await config(['delete-resource', '--path', 'default/test/secret']), 'delete-resource');
    fails(await get(), 'RESOURCE_NOT_FOUND');
  });

  test('library: denial, reference values, one re-attestation on 401, then one attestation for 100 fetches', async () => {
    const admin = new KbsAdminClient({
      url: kbs.url,
      extraRootCertsPem: readFileSync(f('tls.crt'), 'utf8'),
      adminToken: readFileSync(f('admin-token'), 'utf8'),
    });
    const getter = new KbsResourceGetter({
      url: kbs.url,
      extraRootCertsPem: readFileSync(f('tls.crt'), 'utf8'),
      attestRetryDelayMs: 50,
    });
    try {
      await admin.setResource('default/lib/secret', secret);
      // Released only to an appraisal that is not contraindicated: sample evidence needs reference values.
      await admin.setResourcePolicy(
        'data.plugin == "resource" && input.submods.cpu0["ear.status"] != "contraindicated"\n',
      );
      await assert.rejects(getter.get('kbs:///default/lib/secret'), (e: unknown) => {
        assert.ok(e instanceof KmsError);
        assert.equal(e.code, 'POLICY_DENIED', e.message);
        return true;
      });
      assert.equal(getter.stats.attestations, 1, 'a denial with a fresh token is final');

      await admin.setSampleReferenceValue('svn', '1');
      await admin.setSampleReferenceValue('launch_digest', 'abcde');
      await admin.setSampleReferenceValue('major_version', '1', { as: 'integer' });
      await admin.setSampleReferenceValue('minimum_minor_version', '1', { as: 'integer' });
      assert.deepEqual(await admin.getReferenceValue('svn'), ['1']);

      // The held token is denied (401): the client attests again and the new appraisal is affirming.
      assert.deepEqual(Buffer.from(await getter.get('kbs:///default/lib/secret')), secret);
      assert.equal(getter.stats.attestations, 2);
      assert.equal(getter.stats.reattestations, 1);

      const reused = getter.stats.tokenReuses;
      for (let i = 0; i < 100; i++)
        assert.deepEqual(Buffer.from(await getter.get('kbs:///default/lib/secret')), secret);
      assert.equal(getter.stats.attestations, 2, 'no attestation for 100 fetches within the token lifetime');
      assert.equal(getter.stats.tokenReuses - reused, 100);

      // Same policy through the CLI: the affirming built-in now releases too.
      ok(await config(['set-resource-policy', '--affirming']), 'affirming');
      const out = ok(await client(['get-resource', '--path', 'default/lib/secret']), 'get-resource');
      assert.deepEqual(Buffer.from(out.trim(), 'base64'), secret);
    } finally {
      getter.close();
      admin.close();
    }
  });

  test('KBS restarted with a new token signer: the held token gets 401, the client re-attests once', async () => {
    const getter = new KbsResourceGetter({
      url: kbs.url,
      extraRootCertsPem: readFileSync(f('tls.crt'), 'utf8'),
      attestRetryDelayMs: 50,
    });
    try {
      ok(await config(['set-resource-policy', '--allow-all']), 'allow-all');
      assert.deepEqual(Buffer.from(await getter.get('kbs:///one/two/three')), secret);
      assert.equal(getter.stats.attestations, 1);

      // New signer key and certificate (from a second `kbs init`), same port, same storage.
      const rotated = join(dir, 'rotated');
      ok(await run('kbs', ['init', '--dir', rotated, '--port', '0']), 'kbs init (rotated)');
      const cfg = deriveConfig('kbs-rotated.toml', (d) => {
        d.http_server.sockets = [`127.0.0.1:${kbs.port}`];
        d.attestation_token.trusted_certs_paths = [join(rotated, 'token-signer.crt')];
        d.attestation_service.attestation_token_broker!.signer = {
          key_path: join(rotated, 'token-signer.key'),
          cert_path: join(rotated, 'token-signer.crt'),
        };
      });
      await kbs.stop();
      kbs = await startKbs(cfg);
      servers.push(kbs);

      assert.deepEqual(Buffer.from(await getter.get('kbs:///one/two/three')), secret);
      assert.equal(getter.stats.attestations, 2);
      assert.equal(getter.stats.reattestations, 1);
    } finally {
      getter.close();
    }
  });

  test('policy check (dry run) and the audit log', async () => {
    const token = ok(await client(['attest']), 'attest').trim();
    writeFileSync(f('fresh-token'), token);
    const check = (extra: string[]) =>
      client([
        'policy',
        '--admin-token-file',
        f('admin-token'),
        'check',
        '--path',
        'one/two/three',
        ...extra,
      ]);
    const allowed = JSON.parse(ok(await check(['--attestation-token', f('fresh-token')]), 'policy check'));
    assert.equal(allowed.allow, true, JSON.stringify(allowed));
    writeFileSync(f('deny.cel'), 'false\n');
    const denied = JSON.parse(
      ok(await check(['--attestation-token', f('fresh-token'), '--policy-file', f('deny.cel')]), 'check'),
    );
    assert.equal(denied.allow, false);
    assert.equal((await check([])).code, 2, 'needs a token or claims');

    const audit = (args: string[]) => client(['audit', '--admin-token-file', f('admin-token'), ...args]);
    const lines = ok(await audit(['list', '--path', 'one/two/three']), 'audit list')
      .trim()
      .split('\n');
    const records = lines.map((l) => JSON.parse(l));
    assert.ok(records.length > 0);
    assert.ok(records.every((r) => r.path === 'one/two/three'));
    assert.ok(records.some((r) => r.kind === 'resource' && r.decision === 'allow'));
    assert.ok(!lines.join('').includes(secret.toString('base64')), 'the audit log never holds the secret');
    assert.match(
      ok(await audit(['verify']), 'audit verify'),
      /^audit chain intact: \d+ records, head [0-9a-f]{64}\n$/,
    );
  });

  test('exit codes: usage is 2; unreachable and untrusted TLS are 1 with a clear code', async () => {
    const usage = await client(['get-resource']);
    assert.equal(usage.code, 2);
    const unknown = await client(['no-such-command']);
    assert.equal(unknown.code, 2);

    const closed = await new Promise<number>((resolve) => {
      const s = createServer();
      s.listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    fails(await client(['attest'], `https://127.0.0.1:${closed}`), 'KBS_UNREACHABLE', /ECONNREFUSED/);

    const noCa = await run(
      'kbs-client',
      ['--url', kbs.url, 'config', '--admin-token-file', f('admin-token'), 'get-resource-policy'],
      {
        cwd: dir,
        env: { HOME: dir },
      },
    );
    fails(noCa, 'KBS_UNREACHABLE', /--cert-file/);
  });

  test('IPv6 loopback URL', async (t) => {
    if (!(await ipv6Loopback())) return t.skip('no IPv6 loopback on this machine');
    const v6 = await startKbs(
      deriveConfig('kbs-v6.toml', (d) => {
        d.http_server.sockets = ['[::1]:0'];
      }),
    );
    servers.push(v6);
    assert.match(v6.url, /^https:\/\/\[::1\]:\d+$/);
    // Same SQLite storage as the main KBS: the secret and the allow-all policy are already there.
    const out = ok(
      await client(['get-resource', '--path', 'one/two/three'], `${v6.url}/`),
      'get-resource over IPv6',
    );
    assert.deepEqual(Buffer.from(out.trim(), 'base64'), secret);
    await v6.stop();
  });
});
