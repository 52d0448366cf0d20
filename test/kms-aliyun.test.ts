import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Command } from 'commander';
import { aliSealCommand } from '../src/cli/envelope/ali.js';
import { decodeStd } from '../src/crypto/base64.js';
import { DKMS_ADDRESS_ENV } from '../src/kms/aliyun/dkms-client.js';
import { IMDS_ENDPOINT_ENV } from '../src/kms/aliyun/imds.js';
import { OPENAPI_ADDRESS_ENV, OPENAPI_CA_ENV } from '../src/kms/aliyun/openapi.js';
import { aliyunProvider } from '../src/kms/aliyun/provider.js';
import {
  type DkmsMock,
  type ImdsMock,
  type OpenApiMock,
  startDkmsMock,
  startImdsMock,
  startOpenApiMock,
} from './fixtures/kms/aliyun-mock.js';
import { isKmsFailure, sealEnvelope, unsealEnvelope } from './fixtures/kms/envelope.js';
import { deadPort } from './fixtures/kms/http-util.js';
import { createTestPki, makePkcs12, needsOpenssl, type TestPki } from './fixtures/kms/pki.js';
import { skipUnless } from './helpers/components.js';

/*
 * The aliyun provider against loopback mocks of a KMS instance (dkms-gcs protobuf API, RSA-SHA256
 * client-key signatures), the KMS OpenAPI (HMAC-SHA1 RPC signatures, STS tokens) and the ECS metadata
 * service. Protocol-level only: no Alibaba Cloud endpoint is reachable from the test machines.
 */

const INSTANCE = 'kst-cocoseal0test1';
const CLIENT_KEY_ID = 'KAAP.0b1c2d3e-cocoseal-test';
const PASSWORD = 'client key pässword';
const REGION = 'cn-test-1';
const STS = {
  accessKeyId: 'STS.NcocosealAK',
  accessKeySecret: 'cocoseal-sts-secret',
  securityToken: 'CAIS.cocoseal.token',
};

function rsa(): { privateKey: KeyObject; pem: string; publicKey: KeyObject } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKey,
    pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: createPublicKey(privateKey),
  };
}

describe('aliyun provider against signature-checking mocks', { skip: skipUnless(needsOpenssl) }, () => {
  let pki: TestPki;
  let otherPki: TestPki;
  let dkms: DkmsMock;
  let openapi: OpenApiMock;
  let imds: ImdsMock;
  let dir: string;
  let keyFiles: { clientKey: string; password: string; ca: string };
  let credDir: string;
  const clientKey = rsa();

  const clientKeyJson = (p12: Buffer, keyId = CLIENT_KEY_ID) =>
    JSON.stringify({ KeyId: keyId, PrivateKeyData: p12.toString('base64') });
  const settings = { client_key_id: CLIENT_KEY_ID, kms_instance_id: INSTANCE, client_type: 'client_key' };

  before(async () => {
    pki = createTestPki();
    otherPki = createTestPki();
    dkms = await startDkmsMock(pki, INSTANCE);
    dkms.addClientKey(CLIENT_KEY_ID, clientKey.publicKey);
    dkms.createKey('key-envelope');
    openapi = await startOpenApiMock(pki, REGION);
    openapi.addStsCredential(STS);
    imds = await startImdsMock(true);
    imds.setRole('CocosealRole', STS);
    process.env[DKMS_ADDRESS_ENV] = dkms.address;
    process.env[OPENAPI_ADDRESS_ENV] = openapi.address;
    process.env[OPENAPI_CA_ENV] = pki.caFile;
    process.env[IMDS_ENDPOINT_ENV] = imds.url;

    dir = mkdtempSync(join(tmpdir(), 'cocoseal-aliyun-'));
    // Files as the seal command gets them...
    keyFiles = {
      clientKey: join(dir, 'clientKey.json'),
      password: join(dir, 'password.txt'),
      ca: pki.caFile,
    };
    writeFileSync(
      keyFiles.clientKey,
      clientKeyJson(makePkcs12(pki, clientKey.pem, { password: PASSWORD, flavour: 'modern' })),
    );
    writeFileSync(keyFiles.password, `${PASSWORD}\n`);
    // ...and as the guest finds them in its credential directory (legacy PKCS#12 flavour here).
    credDir = join(dir, 'aliyun');
    mkdirSync(credDir);
    writeFileSync(
      join(credDir, `clientKey_${CLIENT_KEY_ID}.json`),
      clientKeyJson(makePkcs12(pki, clientKey.pem, { password: PASSWORD, flavour: 'legacy' })),
    );
    writeFileSync(join(credDir, `password_${CLIENT_KEY_ID}.json`), `${PASSWORD}\n\n`);
    copyFileSync(pki.caFile, join(credDir, `PrivateKmsCA_${INSTANCE}.pem`));
  });

  after(async () => {
    for (const k of [DKMS_ADDRESS_ENV, OPENAPI_ADDRESS_ENV, OPENAPI_CA_ENV, IMDS_ENDPOINT_ENV])
      delete process.env[k];
    await Promise.all([dkms?.close(), openapi?.close(), imds?.close()]);
    pki?.cleanup();
    otherPki?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function sealer() {
    const cmd = new Command('ali').exitOverride();
    aliSealCommand.configure(cmd);
    cmd.parse(
      [
        '-p',
        keyFiles.password,
        '--cert-path',
        keyFiles.ca,
        '-k',
        INSTANCE,
        '--client-key-file-path',
        keyFiles.clientKey,
      ],
      { from: 'user' },
    );
    return aliSealCommand.create(cmd.opts());
  }

  test('client_key envelope: seal with `ali`, unseal through the factory with the KMS iv annotation', async () => {
    const sealed = await sealer();
    assert.equal(sealed.payloadProvider, 'aliyun');
    assert.deepEqual(sealed.settings, settings);
    const env = await sealEnvelope(sealed.provider, 'key-envelope', Buffer.from('ali secret'));
    assert.deepEqual(Object.keys(env.annotations), ['iv']);
    assert.equal(decodeStd(String(env.annotations.iv)).length, 12);
    const unsealer = aliyunProvider({ settings: sealed.settings, credentialDir: credDir });
    assert.deepEqual(await unsealEnvelope(unsealer, env), Buffer.from('ali secret'));

    process.env.ALIYUN_IN_GUEST_KEY_PATH = credDir;
    try {
      assert.deepEqual(await unsealEnvelope(aliyunProvider({ settings }), env), Buffer.from('ali secret'));
    } finally {
      delete process.env.ALIYUN_IN_GUEST_KEY_PATH;
    }
    await assert.rejects(
      unsealer.unwrapKey!(decodeStd(env.encrypted_key), 'key-envelope', {}),
      isKmsFailure('KMS_FAILED', 'aliyun', 'annotations.iv'),
    );
    const wrongIv = Buffer.alloc(12).toString('base64');
    await assert.rejects(
      unsealer.unwrapKey!(decodeStd(env.encrypted_key), 'key-envelope', { iv: wrongIv }),
      isKmsFailure('KMS_FAILED', 'aliyun', 'Rejected.InvalidCiphertext'),
    );
  });

  test('client_key vault with version_stage / version_id', async () => {
    dkms.putSecret('db-pass', [
      { versionId: 'v2', stages: ['ACSCurrent'], data: 'new' },
      { versionId: 'v1', stages: ['ACSPrevious'], data: 'old' },
    ]);
    const p = aliyunProvider({ settings, credentialDir: credDir });
    assert.equal(Buffer.from(await p.getSecret!('db-pass', {})).toString(), 'new');
    assert.equal(
      Buffer.from(await p.getSecret!('db-pass', { version_stage: '', version_id: '' })).toString(),
      'new',
    );
    assert.equal(
      Buffer.from(await p.getSecret!('db-pass', { version_stage: 'ACSPrevious' })).toString(),
      'old',
    );
    assert.equal(Buffer.from(await p.getSecret!('db-pass', { version_id: 'v1' })).toString(), 'old');
    await assert.rejects(
      p.getSecret!('nope', {}),
      isKmsFailure('KMS_FAILED', 'aliyun', 'Forbidden.ResourceNotFound'),
    );
  });

  test('sts_token vault through the OpenAPI (JSON and legacy ak:sk:sts token files)', async () => {
    openapi.putSecret('api-token', [{ versionId: 'a1', stages: ['ACSCurrent'], data: 'sts secret' }]);
    writeFileSync(
      join(credDir, 'sts.json'),
      JSON.stringify({
        AccessKeyId: STS.accessKeyId,
        AccessKeySecret: STS.accessKeySecret,
        SecurityToken: STS.securityToken,
      }),
    );
    writeFileSync(
      join(dir, 'sts-legacy'),
      `${STS.accessKeyId}:${STS.accessKeySecret}:${STS.securityToken}\n`,
    );
    for (const tokenPath of ['sts.json', join(dir, 'sts-legacy')]) {
      const p = aliyunProvider({
        settings: { client_type: 'sts_token', token_path: tokenPath, region_id: REGION },
        credentialDir: credDir,
      });
      assert.equal(
        Buffer.from(await p.getSecret!('api-token', { version_stage: 'ACSCurrent' })).toString(),
        'sts secret',
      );
      await assert.rejects(
        p.wrapKey!(Buffer.alloc(32), 'k'),
        (e: unknown) => (e as { code?: string }).code === 'PROVIDER_UNSUPPORTED',
      );
      await assert.rejects(
        p.unwrapKey!(Buffer.alloc(32), 'k', {}),
        (e: unknown) => (e as { code?: string }).code === 'PROVIDER_UNSUPPORTED',
      );
    }
    const last = openapi.requests.at(-1)!;
    assert.equal(last.SecurityToken, STS.securityToken);
    assert.equal(last.VersionStage, 'ACSCurrent');
    assert.equal('VersionId' in last, false);
  });

  test('ecs_ram_role vault: STS credentials from the (hardened) metadata service', async () => {
    openapi.putSecret('role-secret', [{ versionId: 'r1', stages: ['ACSCurrent'], data: 'from role' }]);
    writeFileSync(
      join(credDir, 'ecsRamRole.json'),
      JSON.stringify({ ecs_ram_role_name: 'CocosealRole', region_id: REGION }),
    );
    const p = aliyunProvider({ settings: { client_type: 'ecs_ram_role' }, credentialDir: credDir });
    assert.equal(Buffer.from(await p.getSecret!('role-secret', {})).toString(), 'from role');
    const roleDir = join(dir, 'role2');
    mkdirSync(roleDir);
    writeFileSync(
      join(roleDir, 'ecsRamRole.json'),
      JSON.stringify({ ecs_ram_role_name: 'NoSuchRole', region_id: REGION }),
    );
    await assert.rejects(
      aliyunProvider({ settings: { client_type: 'ecs_ram_role' }, credentialDir: roleDir }).getSecret!(
        'role-secret',
        {},
      ),
      isKmsFailure('KMS_FAILED', 'aliyun', 'no credentials for RAM role NoSuchRole (HTTP 404)'),
    );
  });

  test('wrong client key, wrong password, wrong STS secret: rejected and reported', async () => {
    const before = dkms.rejected.length;
    // A client key the KMS instance does not know under this id (signature does not verify).
    const impostor = rsa();
    const badDir = join(dir, 'impostor');
    mkdirSync(badDir);
    writeFileSync(
      join(badDir, `clientKey_${CLIENT_KEY_ID}.json`),
      clientKeyJson(makePkcs12(pki, impostor.pem, { password: PASSWORD, flavour: 'modern' })),
    );
    writeFileSync(join(badDir, `password_${CLIENT_KEY_ID}.json`), PASSWORD);
    copyFileSync(pki.caFile, join(badDir, `PrivateKmsCA_${INSTANCE}.pem`));
    await assert.rejects(
      aliyunProvider({ settings, credentialDir: badDir }).wrapKey!(Buffer.alloc(32), 'key-envelope'),
      isKmsFailure('KMS_FAILED', 'aliyun', /Rejected\.Unauthenticated: signature does not verify \(HTTP 401/),
    );
    assert.equal(dkms.rejected.length, before + 1);

    writeFileSync(join(badDir, `password_${CLIENT_KEY_ID}.json`), 'not the password');
    await assert.rejects(
      aliyunProvider({ settings, credentialDir: badDir }).wrapKey!(Buffer.alloc(32), 'key-envelope'),
      isKmsFailure('KMS_FAILED', 'aliyun', 'cannot open the client key: MAC check failed'),
    );

    writeFileSync(
      join(dir, 'sts-wrong.json'),
      JSON.stringify({
        AccessKeyId: STS.accessKeyId,
        AccessKeySecret: 'wrong',
        SecurityToken: STS.securityToken,
      }),
    );
    await assert.rejects(
      aliyunProvider({
        settings: { client_type: 'sts_token', token_path: join(dir, 'sts-wrong.json'), region_id: REGION },
      }).getSecret!('api-token', {}),
      isKmsFailure('KMS_FAILED', 'aliyun', 'SignatureDoesNotMatch'),
    );
  });

  test('untrusted instance CA, endpoint down, key not found, missing credentials, bad settings', async () => {
    const wrongCa = join(dir, 'wrong-ca');
    mkdirSync(wrongCa);
    copyFileSync(
      join(credDir, `clientKey_${CLIENT_KEY_ID}.json`),
      join(wrongCa, `clientKey_${CLIENT_KEY_ID}.json`),
    );
    copyFileSync(
      join(credDir, `password_${CLIENT_KEY_ID}.json`),
      join(wrongCa, `password_${CLIENT_KEY_ID}.json`),
    );
    copyFileSync(otherPki.caFile, join(wrongCa, `PrivateKmsCA_${INSTANCE}.pem`));
    await assert.rejects(
      aliyunProvider({ settings, credentialDir: wrongCa }).wrapKey!(Buffer.alloc(32), 'key-envelope'),
      isKmsFailure('KMS_FAILED', 'aliyun', 'TLS verification failed'),
    );

    const p = aliyunProvider({ settings, credentialDir: credDir });
    await assert.rejects(
      p.wrapKey!(Buffer.alloc(32), 'no-such-key'),
      isKmsFailure('KMS_FAILED', 'aliyun', 'Forbidden.KeyNotFound'),
    );

    const saved = process.env[DKMS_ADDRESS_ENV];
    process.env[DKMS_ADDRESS_ENV] = `127.0.0.1:${await deadPort()}`;
    try {
      await assert.rejects(
        aliyunProvider({ settings, credentialDir: credDir }).wrapKey!(Buffer.alloc(32), 'key-envelope'),
        isKmsFailure(
          'KMS_FAILED',
          'aliyun',
          `KMS instance ${INSTANCE}.cryptoservice.kms.aliyuncs.com: unreachable (ECONNREFUSED)`,
        ),
      );
    } finally {
      process.env[DKMS_ADDRESS_ENV] = saved;
    }

    await assert.rejects(
      aliyunProvider({ settings, credentialDir: join(dir, 'empty') }).wrapKey!(Buffer.alloc(32), 'k'),
      isKmsFailure('CREDENTIAL_MISSING', 'aliyun', `clientKey_${CLIENT_KEY_ID}.json`),
    );
    assert.throws(
      () => aliyunProvider({ settings: {} }),
      isKmsFailure('KMS_FAILED', 'aliyun', 'client_type is missing'),
    );
    assert.throws(
      () => aliyunProvider({ settings: { client_type: 'nope' } }),
      isKmsFailure('KMS_FAILED', 'aliyun', 'is not client_key'),
    );
    assert.throws(
      () => aliyunProvider({ settings: { ...settings, client_key_id: '../../etc/passwd' } }),
      isKmsFailure('KMS_FAILED', 'aliyun', 'client_key_id must be an id'),
    );
  });
});
