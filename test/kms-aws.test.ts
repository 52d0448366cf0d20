import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { EncryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { Command } from 'commander';
import { awsSealCommand } from '../src/cli/envelope/aws.js';
import { decodeStd } from '../src/crypto/base64.js';
import { awsProvider } from '../src/kms/aws/provider.js';
import { type AwsMock, startAwsMock } from './fixtures/kms/aws-mock.js';
import { isKmsFailure, sealEnvelope, unsealEnvelope } from './fixtures/kms/envelope.js';
import { deadPort } from './fixtures/kms/http-util.js';
import { createTestPki, needsOpenssl, type TestPki } from './fixtures/kms/pki.js';
import { skipUnless } from './helpers/components.js';

/*
 * The aws provider against a loopback KMS / Secrets Manager that implements the AWS JSON 1.1 protocol
 * and verifies SigV4 (its verifier is checked against AWS's published examples in kms-sigv4.test.ts).
 * Protocol-level only: no real AWS endpoint is reachable from the test machines.
 */

const AKID = 'AKIDCOCOSEALTEST0001';
const SECRET = 'cocoseal/test/secret/key/0000000000000000';
const TEMP_AKID = 'ASIACOCOSEALTEMP0001';
const TEMP_SECRET = 'cocoseal/temporary/secret/000000000000000';
const TOKEN = 'FwoGZXIvYXdzEXAMPLESESSIONTOKEN';

describe('aws provider against a SigV4-verifying KMS / Secrets Manager mock', {
  skip: skipUnless(needsOpenssl),
}, () => {
  let pki: TestPki;
  let mock: AwsMock;
  let dir: string;
  let keyId: string;
  const credDir = (name: string, cred: object) => {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'credential.json'), JSON.stringify(cred), { mode: 0o600 });
    return d;
  };
  const good = () => credDir('good', { access_key_id: AKID, secret_access_key: SECRET });

  before(async () => {
    pki = createTestPki();
    mock = await startAwsMock(
      pki,
      new Map([
        [AKID, { secretAccessKey: SECRET }],
        [TEMP_AKID, { secretAccessKey: TEMP_SECRET, sessionToken: TOKEN }],
      ]),
      'eu-west-1',
    );
    keyId = mock.createKey('alias/cocoseal');
    dir = mkdtempSync(join(tmpdir(), 'cocoseal-aws-'));
    process.env.AWS_ENDPOINT_URL = mock.url;
    process.env.AWS_CA_BUNDLE = pki.caFile;
  });
  after(async () => {
    delete process.env.AWS_ENDPOINT_URL;
    delete process.env.AWS_CA_BUNDLE;
    await mock?.close();
    pki?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('seal with `aws -r -c`, unseal through the factory (key id, ARN and alias)', async () => {
    const credFile = join(good(), 'credential.json');
    for (const ref of [keyId, mock.keyArn(keyId), 'alias/cocoseal']) {
      const cmd = new Command('aws').exitOverride();
      awsSealCommand.configure(cmd);
      cmd.parse(['-r', 'eu-west-1', '-c', credFile], { from: 'user' });
      const sealed = await awsSealCommand.create(cmd.opts());
      assert.equal(sealed.payloadProvider, 'aws');
      assert.deepEqual(sealed.settings, { region: 'eu-west-1' });
      const env = await sealEnvelope(sealed.provider, ref, Buffer.from('top secret'));
      assert.deepEqual(env.annotations, {});
      const unsealer = awsProvider({ settings: sealed.settings, credentialDir: good() });
      assert.deepEqual(await unsealEnvelope(unsealer, env), Buffer.from('top secret'));
    }
    const last = mock.requests.at(-1)!;
    assert.equal(last.target, 'TrentService.Decrypt');
    assert.equal(last.body.KeyId, 'alias/cocoseal');
    assert.equal(last.body.EncryptionContext, undefined);
  });

  test('AWS_IN_GUEST_KEY_PATH locates credential.json; session tokens are signed', async () => {
    const temp = credDir('temp', {
      access_key_id: TEMP_AKID,
      secret_access_key: TEMP_SECRET,
      session_token: TOKEN,
    });
    process.env.AWS_IN_GUEST_KEY_PATH = temp;
    try {
      const p = awsProvider({ settings: { region: 'eu-west-1' } });
      const env = await sealEnvelope(p, keyId, Buffer.from('x'));
      assert.deepEqual(await unsealEnvelope(p, env), Buffer.from('x'));
    } finally {
      delete process.env.AWS_IN_GUEST_KEY_PATH;
    }
  });

  test('annotations.encryption_context is passed to Decrypt', async () => {
    const context = { purpose: 'sealed-secret', pod: 'web-1' };
    const sdk = new KMSClient({
      region: 'eu-west-1',
      endpoint: mock.url,
      credentials: { accessKeyId: AKID, secretAccessKey: SECRET },
      requestHandler: { httpsAgent: new Agent({ ca: pki.caPem }) },
    });
    const dek = Buffer.alloc(32, 7);
    const blob = (
      await sdk.send(new EncryptCommand({ KeyId: keyId, Plaintext: dek, EncryptionContext: context }))
    ).CiphertextBlob!;
    sdk.destroy();
    const p = awsProvider({ settings: { region: 'eu-west-1' }, credentialDir: good() });
    assert.deepEqual(Buffer.from(await p.unwrapKey!(blob, keyId, { encryption_context: context })), dek);
    assert.deepEqual(mock.requests.at(-1)!.body.EncryptionContext, context);
    await assert.rejects(
      p.unwrapKey!(blob, keyId, {}),
      isKmsFailure('KMS_FAILED', 'aws', 'ciphertext rejected: wrong key, wrong encryption context'),
    );
    await assert.rejects(
      p.unwrapKey!(blob, keyId, { encryption_context: { a: 1 } }),
      isKmsFailure('KMS_FAILED', 'aws', 'encryption_context.a must be a string'),
    );
  });

  test('vault: SecretString, SecretBinary, version_stage and version_id (empty = not sent)', async () => {
    mock.putSecret('db/password', [
      { versionId: 'v-2', stages: ['AWSCURRENT'], string: 'hunter3' },
      { versionId: 'v-1', stages: ['AWSPREVIOUS'], string: 'hunter2' },
    ]);
    mock.putSecret('tls/key', [
      { versionId: 'b-1', stages: ['AWSCURRENT'], binary: Buffer.from([0, 1, 2, 255]) },
    ]);
    const p = awsProvider({ settings: { region: 'eu-west-1' }, credentialDir: good() });
    assert.equal(Buffer.from(await p.getSecret!('db/password', {})).toString(), 'hunter3');
    assert.equal(
      Buffer.from(await p.getSecret!('db/password', { version_id: '', version_stage: '' })).toString(),
      'hunter3',
    );
    assert.equal('VersionId' in mock.requests.at(-1)!.body, false);
    assert.equal('VersionStage' in mock.requests.at(-1)!.body, false);
    assert.equal(
      Buffer.from(await p.getSecret!('db/password', { version_stage: 'AWSPREVIOUS' })).toString(),
      'hunter2',
    );
    assert.equal(Buffer.from(await p.getSecret!('db/password', { version_id: 'v-1' })).toString(), 'hunter2');
    assert.deepEqual(Buffer.from(await p.getSecret!('tls/key', {})), Buffer.from([0, 1, 2, 255]));
    await assert.rejects(
      p.getSecret!('nope', {}),
      isKmsFailure(
        'KMS_FAILED',
        'aws',
        /GetSecretValue of nope failed: not found \(ResourceNotFoundException/,
      ),
    );
    await assert.rejects(
      p.getSecret!('db/password', { version_id: 3 }),
      isKmsFailure('KMS_FAILED', 'aws', 'version_id must be a string'),
    );
  });

  test('wrong credentials are rejected by the mock signature check and reported as such', async () => {
    const before = mock.rejected.length;
    const wrongSecret = awsProvider({
      settings: { region: 'eu-west-1' },
      credentialDir: credDir('wrong-secret', { access_key_id: AKID, secret_access_key: 'not-the-secret' }),
    });
    await assert.rejects(
      wrongSecret.wrapKey!(Buffer.alloc(32), keyId),
      isKmsFailure(
        'KMS_FAILED',
        'aws',
        /KMS Encrypt with key .* failed: credentials or signature rejected \(InvalidSignatureException/,
      ),
    );
    const unknownKey = awsProvider({
      settings: { region: 'eu-west-1' },
      credentialDir: credDir('unknown', { access_key_id: 'AKIDUNKNOWN', secret_access_key: SECRET }),
    });
    await assert.rejects(
      unknownKey.getSecret!('db/password', {}),
      isKmsFailure('KMS_FAILED', 'aws', 'UnrecognizedClientException'),
    );
    // Signed for another region than the endpoint serves.
    await assert.rejects(
      awsProvider({ settings: { region: 'us-west-2' }, credentialDir: good() }).wrapKey!(
        Buffer.alloc(32),
        keyId,
      ),
      isKmsFailure('KMS_FAILED', 'aws', 'InvalidSignatureException'),
    );
    assert.ok(mock.rejected.length >= before + 3);
  });

  test('key not found, endpoint down, untrusted TLS, missing or malformed credentials, bad settings', async () => {
    const p = awsProvider({ settings: { region: 'eu-west-1' }, credentialDir: good() });
    await assert.rejects(
      p.wrapKey!(Buffer.alloc(32), 'alias/missing'),
      isKmsFailure('KMS_FAILED', 'aws', /not found \(NotFoundException/),
    );

    const port = await deadPort();
    await assert.rejects(
      awsProvider({
        settings: { region: 'eu-west-1', endpoint: `https://127.0.0.1:${port}` },
        credentialDir: good(),
      }).wrapKey!(Buffer.alloc(32), keyId),
      isKmsFailure('KMS_FAILED', 'aws', `endpoint https://127.0.0.1:${port} unreachable (ECONNREFUSED)`),
    );

    delete process.env.AWS_CA_BUNDLE;
    try {
      await assert.rejects(
        awsProvider({ settings: { region: 'eu-west-1' }, credentialDir: good() }).wrapKey!(
          Buffer.alloc(32),
          keyId,
        ),
        isKmsFailure('KMS_FAILED', 'aws', /TLS verification of https:\/\/127\.0\.0\.1:\d+ failed/),
      );
    } finally {
      process.env.AWS_CA_BUNDLE = pki.caFile;
    }

    await assert.rejects(
      awsProvider({ settings: { region: 'eu-west-1' }, credentialDir: join(dir, 'none') }).wrapKey!(
        Buffer.alloc(32),
        keyId,
      ),
      isKmsFailure('CREDENTIAL_MISSING', 'aws', 'credential.json does not exist'),
    );
    const bad = credDir('bad', {});
    writeFileSync(join(bad, 'credential.json'), '{"access_key_id": "x", "secret_access_key": "s3cr3t"');
    await assert.rejects(
      awsProvider({ settings: { region: 'eu-west-1' }, credentialDir: bad }).wrapKey!(
        Buffer.alloc(32),
        keyId,
      ),
      (e: unknown) =>
        isKmsFailure('KMS_FAILED', 'aws', 'is not valid JSON')(e) &&
        !String((e as Error).message).includes('s3cr3t'),
    );
    assert.throws(
      () => awsProvider({ settings: {} }),
      isKmsFailure('KMS_FAILED', 'aws', 'provider_settings.region'),
    );
    await assert.rejects(
      awsProvider({
        settings: { region: 'eu-west-1', endpoint: 'http://kms.example.com' },
        credentialDir: good(),
      }).wrapKey!(Buffer.alloc(32), keyId),
      isKmsFailure('KMS_FAILED', 'aws', 'must use https'),
    );
  });

  test('a wrapped key is opaque: tampering is rejected by KMS', async () => {
    const p = awsProvider({ settings: { region: 'eu-west-1' }, credentialDir: good() });
    const env = await sealEnvelope(p, keyId, Buffer.from('x'));
    const blob = decodeStd(env.encrypted_key);
    blob[blob.length - 1] ^= 1;
    await assert.rejects(
      p.unwrapKey!(blob, keyId, {}),
      isKmsFailure('KMS_FAILED', 'aws', 'InvalidCiphertextException'),
    );
  });
});
