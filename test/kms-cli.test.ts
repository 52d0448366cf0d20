import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DKMS_ADDRESS_ENV } from '../src/kms/aliyun/dkms-client.js';
import { finalizeAllModules } from '../src/kms/pkcs11/library.js';
import { startDkmsMock } from './fixtures/kms/aliyun-mock.js';
import { startAwsMock } from './fixtures/kms/aws-mock.js';
import { startEhsmMock } from './fixtures/kms/ehsm-mock.js';
import { createTestPki, makePkcs12, needsOpenssl } from './fixtures/kms/pki.js';
import { createSoftHsm, softhsmUtilAvailable } from './fixtures/kms/softhsm.js';
import { needs, skipUnless } from './helpers/components.js';
import { type Daemon, startDaemon } from './helpers/daemon.js';
import { runBin } from './helpers/run-bin.js';

/*
 * Every KMS provider end to end through the programs users run: sealed by `bin/secret seal … envelope
 * <provider>`, unsealed by `bin/secret unseal --key-path DIR` and by a running `bin/cdh` daemon that finds
 * its credential directory through the provider's environment variable (docs/kms.md). The cloud
 * providers talk to the signature-checking loopback mocks of test/fixtures/kms, pkcs11 to a SoftHSM2
 * token. A wrong credential must fail as a typed KMS_FAILED naming the provider and the cause, and never
 * reveal the plaintext.
 */

const root = mkdtempSync(join(tmpdir(), 'cocoseal-kms-cli-'));
const keyDir = join(root, 'sealed-secret');
const KID = 'op';
// Multi-byte characters, inner and trailing whitespace: the bytes must come back unchanged.
const PLAINTEXT = Buffer.from('pässwörd 🔑\twith spaces \n\n', 'utf8');

before(async () => {
  mkdirSync(keyDir);
  const r = await runBin('secret', ['keygen', '--kid', KID, '--output-dir', root]);
  assert.equal(r.code, 0, r.stderr);
  copyFileSync(join(root, `${KID}-public.json`), join(keyDir, KID));
});

after(() => rmSync(root, { recursive: true, force: true }));

/** The payload of a `sealed.<header>.<payload>.<signature>` string. */
function payloadOf(sealed: string): Record<string, unknown> {
  const parts = sealed.split('.');
  assert.equal(parts.length, 4, 'sealed.<jws> with three JWS parts');
  return JSON.parse(Buffer.from(parts[2], 'base64url').toString('utf8'));
}

interface ProviderSetup {
  /** `secret seal` args after the signing options: `envelope --key-id … --file-path <file> <sub> <flags>`. */
  envelopeArgs(plaintextFile: string): string[];
  /** What the payload must carry. */
  payloadProvider: string;
  settings: Record<string, unknown>;
  /** Endpoint overrides for every process (seal, unseal, daemon). */
  env: NodeJS.ProcessEnv;
  /** Credential directories laid out as upstream expects. */
  goodDir: string;
  badDir: string;
  /** What a wrong credential's message must say after `<provider>: `. */
  cause: RegExp;
  /** How many requests the mock refused on its signature check (cloud providers). */
  rejections?: () => number;
  /** `secret seal vault` args and the value the provider holds (none: the provider has no vault). */
  vault: { args: string[]; value?: string };
  cleanup(): Promise<void>;
}

interface ProviderCase {
  /** The `secret seal … envelope` subcommand. */
  sub: string;
  /** The unseal side's credential-directory variable. */
  envVar: string;
  skip: string | false;
  setup(dir: string): Promise<ProviderSetup>;
}

function providerSuite(c: ProviderCase): void {
  describe(`${c.sub}: secret seal → secret unseal and the cdh daemon`, { skip: c.skip }, () => {
    let dir: string;
    let s: ProviderSetup;
    let good: Daemon | undefined;
    let bad: Daemon | undefined;
    const sealed: Record<string, string> = {};
    const file = (name: string, content: string | Buffer) => {
      const p = join(dir, name);
      writeFileSync(p, content);
      return p;
    };

    async function seal(args: string[]): Promise<string> {
      const r = await runBin(
        'secret',
        ['seal', '--signing-kid', KID, '--signing-jwk-path', join(root, `${KID}-private.json`), ...args],
        { env: s.env },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stdout + r.stderr, /pässwörd/);
      const last = r.stdout.trim().split('\n').at(-1) ?? '';
      assert.match(last, /^sealed\./);
      return last;
    }

    function startCdh(name: string, credentialDir: string): Promise<Daemon> {
      const d = join(dir, name);
      mkdirSync(d);
      const cfg = join(d, 'cdh.toml');
      writeFileSync(
        cfg,
        `socket = "unix://${join(d, 'cdh.sock')}"
sealed_secret_key_dir = "${keyDir}"
base_dir = "${join(d, 'base')}"
[kbc]
name = "offline_fs_kbc"
`,
      );
      return startDaemon('cdh', ['-c', cfg], {
        env: { ...s.env, AA_KBC_PARAMS: '', [c.envVar]: credentialDir },
        readyLine: /^cdh listening on /,
      });
    }

    const cdhUnseal = (daemon: 'good' | 'bad', sealedFile: string) =>
      runBin('cdh', [
        '--socket',
        `unix://${join(dir, daemon, 'cdh.sock')}`,
        'unseal-secret',
        '--secret-path',
        sealedFile,
      ]);

    const secretUnseal = (sealedFile: string, keyPath: string) =>
      runBin(
        'secret',
        ['unseal', '--file-path', sealedFile, '--key-path', keyPath, '--verification-key-dir', keyDir],
        // The env var names the wrong directory: --key-path must win.
        { env: { ...s.env, [c.envVar]: join(dir, 'nowhere') } },
      );

    before(async () => {
      dir = mkdtempSync(join(root, `${c.sub}-`));
      s = await c.setup(dir);
      const plainFile = file('plaintext', PLAINTEXT);
      sealed.envelope = await seal(s.envelopeArgs(plainFile));
      sealed.vault = await seal(s.vault.args);
      [good, bad] = await Promise.all([startCdh('good', s.goodDir), startCdh('bad', s.badDir)]);
    });

    after(async () => {
      await Promise.all([good?.stop(), bad?.stop()]);
      await s?.cleanup();
    });

    test('the sealed payload names the provider and its settings', () => {
      const p = payloadOf(sealed.envelope);
      assert.equal(p.type, 'envelope');
      assert.equal(p.provider, s.payloadProvider);
      assert.deepEqual(p.provider_settings, s.settings);
      assert.equal(typeof p.encrypted_key, 'string');
    });

    test('secret unseal --key-path writes the exact plaintext bytes', async () => {
      const f = file('envelope.sealed', `${sealed.envelope}\n`);
      const r = await secretUnseal(f, s.goodDir);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `unseal success, secret is saved in newly generated file: '"${f}.unsealed"'\n`);
      assert.deepEqual(readFileSync(`${f}.unsealed`), PLAINTEXT);
    });

    test(`the cdh daemon unseals with ${c.envVar}`, async () => {
      const r = await cdhUnseal('good', file('cdh-envelope.sealed', sealed.envelope));
      assert.equal(r.code, 0, `${r.stderr}\n${good?.stderr()}`);
      assert.deepEqual(Buffer.from(r.stdout, 'utf8'), PLAINTEXT);
      assert.doesNotMatch(good?.stderr() ?? '', /pässwörd/);
    });

    test('a wrong credential: KMS_FAILED naming the provider and the cause, no plaintext', async () => {
      const f = file('wrong.sealed', sealed.envelope);
      const rejectedBefore = s.rejections?.() ?? 0;
      const cli = await secretUnseal(f, s.badDir);
      assert.equal(cli.code, 1, cli.stderr);
      const line = new RegExp(`^secret: KMS_FAILED: ${s.payloadProvider}: .*${s.cause.source}`, 'm');
      assert.match(cli.stderr, line);
      assert.ok(!existsSync(`${f}.unsealed`), 'no .unsealed file on failure');

      const daemon = await cdhUnseal('bad', f);
      assert.equal(daemon.code, 1, daemon.stderr);
      assert.match(daemon.stderr, /KMS_FAILED/);
      assert.match(daemon.stderr, new RegExp(`${s.payloadProvider}: .*${s.cause.source}`));

      // Both refusals came from the service's own signature check, not from the client.
      if (s.rejections) assert.equal(s.rejections() - rejectedBefore, 2);
      for (const out of [cli.stdout, cli.stderr, daemon.stdout, daemon.stderr, bad?.stderr() ?? '']) {
        assert.doesNotMatch(out, /pässwörd/);
      }
    });

    test('vault: secret unseal and the cdh daemon fetch the stored value (or refuse it)', async () => {
      const v = s.vault;
      const p = payloadOf(sealed.vault);
      assert.equal(p.type, 'vault');
      assert.equal(p.provider, s.payloadProvider);
      const f = file('vault.sealed', sealed.vault);
      const cli = await secretUnseal(f, s.goodDir);
      const daemon = await cdhUnseal('good', f);
      if (v.value === undefined) {
        // docs/kms.md: an operation the provider does not have is PROVIDER_UNSUPPORTED.
        assert.equal(cli.code, 1, cli.stderr);
        const unsupported = `PROVIDER_UNSUPPORTED: ${s.payloadProvider}: .*no vault`;
        assert.match(cli.stderr, new RegExp(`^secret: ${unsupported}`, 'm'));
        assert.equal(daemon.code, 1, daemon.stderr);
        assert.match(daemon.stderr, new RegExp(unsupported));
        return;
      }
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(readFileSync(`${f}.unsealed`, 'utf8'), v.value);
      assert.equal(daemon.code, 0, daemon.stderr);
      assert.equal(daemon.stdout, v.value);
      const wrong = await cdhUnseal('bad', f);
      assert.equal(wrong.code, 1, wrong.stderr);
      assert.match(wrong.stderr, new RegExp(`KMS_FAILED: ${s.payloadProvider}: .*${s.cause.source}`));
      assert.doesNotMatch(wrong.stdout + wrong.stderr, new RegExp(v.value));
    });
  });
}

// ---------------------------------------------------------------------------------------------------

providerSuite({
  sub: 'pkcs11',
  envVar: 'PKCS11_IN_GUEST_KEY_PATH',
  skip: skipUnless(needs.softhsm, () =>
    softhsmUtilAvailable() ? undefined : 'softhsm2-util not installed (Debian softhsm2)',
  ),
  async setup(dir) {
    // Sets process.env.SOFTHSM2_CONF, which every spawned program inherits.
    const hsm = createSoftHsm([{ label: 'cocoseal', userPin: '5678', keys: [{ label: 'kek-1' }] }]);
    const pinFile = join(dir, 'seal-pin.txt');
    writeFileSync(pinFile, '5678\n');
    const badDir = join(dir, 'bad-credentials');
    mkdirSync(badDir);
    writeFileSync(join(badDir, 'pin_cocoseal.txt'), '0000\n');
    const settings = { module: hsm.module, token_label: 'cocoseal', key_label: 'kek-1' };
    return {
      envelopeArgs: (f) => [
        'envelope',
        '--key-id',
        'kek-1',
        '--file-path',
        f,
        'pkcs11',
        '--module',
        hsm.module,
        '--token-label',
        'cocoseal',
        '--key-label',
        'kek-1',
        '--pin-file',
        pinFile,
      ],
      payloadProvider: 'pkcs11',
      settings,
      vault: {
        args: ['vault', '-r', 'kek-1', '-p', 'pkcs11', '--provider-settings', JSON.stringify(settings)],
      },
      env: { PKCS11_ALLOWED_MODULES: hsm.module },
      goodDir: hsm.credentialDir,
      badDir,
      cause: /PIN incorrect/,
      async cleanup() {
        finalizeAllModules();
        hsm.cleanup();
      },
    };
  },
});

// ---------------------------------------------------------------------------------------------------

const AWS_AKID = 'AKIDCOCOSEALCLI00001';
const AWS_SECRET = 'cocoseal/cli/secret/key/00000000000000000';

providerSuite({
  sub: 'aws',
  envVar: 'AWS_IN_GUEST_KEY_PATH',
  skip: skipUnless(needsOpenssl),
  async setup(dir) {
    const pki = createTestPki();
    const mock = await startAwsMock(pki, new Map([[AWS_AKID, { secretAccessKey: AWS_SECRET }]]), 'eu-west-1');
    mock.createKey('alias/cocoseal-cli');
    mock.putSecret('app/db-password', [
      { versionId: 'v1', stages: ['AWSPREVIOUS'], string: 'old value' },
      { versionId: 'v2', stages: ['AWSCURRENT'], string: 'aws vault value' },
    ]);
    const credDir = (name: string, secret: string) => {
      const d = join(dir, name);
      mkdirSync(d);
      writeFileSync(
        join(d, 'credential.json'),
        JSON.stringify({ access_key_id: AWS_AKID, secret_access_key: secret }),
        { mode: 0o600 },
      );
      return d;
    };
    const goodDir = credDir('aws', AWS_SECRET);
    return {
      envelopeArgs: (f) => [
        'envelope',
        '--key-id',
        'alias/cocoseal-cli',
        '--file-path',
        f,
        'aws',
        '--region',
        'eu-west-1',
        '--credential-file-path',
        join(goodDir, 'credential.json'),
      ],
      payloadProvider: 'aws',
      settings: { region: 'eu-west-1' },
      env: { AWS_ENDPOINT_URL: mock.url, AWS_CA_BUNDLE: pki.caFile },
      goodDir,
      badDir: credDir('aws-wrong', 'cocoseal/cli/WRONG/key/000000000000000000'),
      cause: /InvalidSignatureException/,
      rejections: () => mock.rejected.length,
      vault: {
        args: [
          'vault',
          '-r',
          'app/db-password',
          '-p',
          'aws',
          '--provider-settings',
          '{"region":"eu-west-1"}',
        ],
        value: 'aws vault value',
      },
      async cleanup() {
        await mock.close();
        pki.cleanup();
      },
    };
  },
});

// ---------------------------------------------------------------------------------------------------

const ALI_INSTANCE = 'kst-cocosealcli1';
const ALI_CLIENT_KEY = 'KAAP.cocoseal-cli-client';
const ALI_PASSWORD = 'client key pässword';

providerSuite({
  sub: 'ali',
  envVar: 'ALIYUN_IN_GUEST_KEY_PATH',
  skip: skipUnless(needsOpenssl),
  async setup(dir) {
    const pki = createTestPki();
    const dkms = await startDkmsMock(pki, ALI_INSTANCE);
    const rsa = () => generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const registered = rsa();
    dkms.addClientKey(ALI_CLIENT_KEY, createPublicKey(registered));
    dkms.createKey('key-cli');
    dkms.putSecret('app-db-password', [{ versionId: 'v1', stages: ['ACSCurrent'], data: 'ali vault value' }]);
    // The guest's directory (upstream layout); the wrong one holds a client key the KMS never registered.
    const credDir = (name: string, key: ReturnType<typeof rsa>) => {
      const d = join(dir, name);
      mkdirSync(d);
      const pem = key.export({ type: 'pkcs8', format: 'pem' }).toString();
      const p12 = makePkcs12(pki, pem, { password: ALI_PASSWORD, flavour: 'modern' });
      writeFileSync(
        join(d, `clientKey_${ALI_CLIENT_KEY}.json`),
        JSON.stringify({ KeyId: ALI_CLIENT_KEY, PrivateKeyData: p12.toString('base64') }),
      );
      writeFileSync(join(d, `password_${ALI_CLIENT_KEY}.json`), `${ALI_PASSWORD}\n`);
      copyFileSync(pki.caFile, join(d, `PrivateKmsCA_${ALI_INSTANCE}.pem`));
      return d;
    };
    const goodDir = credDir('aliyun', registered);
    const settings = {
      client_key_id: ALI_CLIENT_KEY,
      kms_instance_id: ALI_INSTANCE,
      client_type: 'client_key',
    };
    return {
      envelopeArgs: (f) => [
        'envelope',
        '--key-id',
        'key-cli',
        '--file-path',
        f,
        'ali',
        '--password-file-path',
        join(goodDir, `password_${ALI_CLIENT_KEY}.json`),
        '--cert-path',
        pki.caFile,
        '--kms-instance-id',
        ALI_INSTANCE,
        '--client-key-file-path',
        join(goodDir, `clientKey_${ALI_CLIENT_KEY}.json`),
      ],
      payloadProvider: 'aliyun',
      settings,
      env: { [DKMS_ADDRESS_ENV]: dkms.address },
      goodDir,
      badDir: credDir('aliyun-wrong', rsa()),
      cause: /Rejected\.Unauthenticated: signature does not verify/,
      rejections: () => dkms.rejected.length,
      vault: {
        args: [
          'vault',
          '-r',
          'app-db-password',
          '-p',
          'aliyun',
          '--provider-settings',
          JSON.stringify(settings),
        ],
        value: 'ali vault value',
      },
      async cleanup() {
        await dkms.close();
        pki.cleanup();
      },
    };
  },
});

// ---------------------------------------------------------------------------------------------------

const EHSM_APP = '5b3c9f0e-cocoseal-cli-app';
const EHSM_KEY = 'cocoseal-cli-ehsm-api-key';

providerSuite({
  sub: 'ehsm',
  envVar: 'EHSM_IN_GUEST_KEY_PATH',
  skip: skipUnless(needsOpenssl),
  async setup(dir) {
    const pki = createTestPki();
    const mock = await startEhsmMock(pki);
    mock.enroll(EHSM_APP, EHSM_KEY);
    const keyId = mock.createKey();
    const credDir = (name: string, apiKey: string) => {
      const d = join(dir, name);
      mkdirSync(d);
      writeFileSync(
        join(d, `credential_${EHSM_APP}.json`),
        JSON.stringify({ AppId: EHSM_APP, ApiKey: apiKey }),
      );
      copyFileSync(pki.caFile, join(d, `ca_${EHSM_APP}.pem`));
      return d;
    };
    const goodDir = credDir('ehsm', EHSM_KEY);
    const settings = { app_id: EHSM_APP, endpoint: mock.url };
    return {
      envelopeArgs: (f) => [
        'envelope',
        '--key-id',
        keyId,
        '--file-path',
        f,
        'ehsm',
        '--credential-file-path',
        join(goodDir, `credential_${EHSM_APP}.json`),
        '--endpoint',
        mock.url,
        '--cert-path',
        pki.caFile,
      ],
      payloadProvider: 'ehsm',
      settings,
      vault: { args: ['vault', '-r', keyId, '-p', 'ehsm', '--provider-settings', JSON.stringify(settings)] },
      env: {},
      goodDir,
      badDir: credDir('ehsm-wrong', 'not-the-api-key'),
      cause: /sign error/,
      rejections: () => mock.rejected.length,
      async cleanup() {
        await mock.close();
        pki.cleanup();
      },
    };
  },
});
