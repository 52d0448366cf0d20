import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Command } from 'commander';
import { ehsmSealCommand } from '../src/cli/envelope/ehsm.js';
import { decodeStd, encodeStd } from '../src/crypto/base64.js';
import { ehsmSignString } from '../src/kms/ehsm/client.js';
import { ehsmProvider } from '../src/kms/ehsm/provider.js';
import { type EhsmMock, startEhsmMock } from './fixtures/kms/ehsm-mock.js';
import { isKmsFailure, sealEnvelope, unsealEnvelope } from './fixtures/kms/envelope.js';
import { deadPort } from './fixtures/kms/http-util.js';
import { createTestPki, needsOpenssl, type TestPki } from './fixtures/kms/pki.js';
import { skipUnless } from './helpers/components.js';

/*
 * The ehsm provider against a loopback eHSM-KMS that checks the HMAC-SHA256 request signature and
 * replayed timestamps. Protocol-level only: no eHSM service (SGX) runs on the test machines.
 */

const APP_ID = '86f0e9fe-7f05-4110-9f65-a224ddee1233';
const API_KEY = 'cocoseal-ehsm-api-key';

test('signing string: sorted, nested payload, empty values skipped', () => {
  assert.equal(
    ehsmSignString({ timestamp: '1', appid: 'a', payload: { plaintext: 'cA==', keyid: 'k', aad: '' } }),
    'appid=a&payload=keyid=k&plaintext=cA==&timestamp=1',
  );
});

describe('ehsm provider against a signature-checking mock', { skip: skipUnless(needsOpenssl) }, () => {
  let pki: TestPki;
  let mock: EhsmMock;
  let dir: string;
  let keyId: string;
  let credDir: string;
  const settings = () => ({ app_id: APP_ID, endpoint: mock.url });

  before(async () => {
    pki = createTestPki();
    mock = await startEhsmMock(pki);
    mock.enroll(APP_ID, API_KEY);
    keyId = mock.createKey();
    dir = mkdtempSync(join(tmpdir(), 'cocoseal-ehsm-'));
    credDir = join(dir, 'ehsm');
    mkdirSync(credDir);
    writeFileSync(
      join(credDir, `credential_${APP_ID}.json`),
      JSON.stringify({ AppId: APP_ID, ApiKey: API_KEY }),
    );
    copyFileSync(pki.caFile, join(credDir, `ca_${APP_ID}.pem`));
  });
  after(async () => {
    await mock?.close();
    pki?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('seal with `ehsm -c -e --cert-path`, unseal through the factory; encrypted_key is double base64', async () => {
    const cmd = new Command('ehsm').exitOverride();
    ehsmSealCommand.configure(cmd);
    cmd.parse(['-c', join(credDir, `credential_${APP_ID}.json`), '-e', mock.url, '--cert-path', pki.caFile], {
      from: 'user',
    });
    const sealed = await ehsmSealCommand.create(cmd.opts());
    assert.equal(sealed.payloadProvider, 'ehsm');
    assert.deepEqual(sealed.settings, settings());
    const env = await sealEnvelope(sealed.provider, keyId, Buffer.from('ehsm secret'));
    assert.deepEqual(env.annotations, {});
    // encrypted_key = STD(the eHSM ciphertext string): decoding once gives base64 text.
    const inner = decodeStd(env.encrypted_key).toString('utf8');
    assert.equal(encodeStd(decodeStd(inner)), inner);

    assert.deepEqual(
      await unsealEnvelope(ehsmProvider({ settings: sealed.settings, credentialDir: credDir }), env),
      Buffer.from('ehsm secret'),
    );
    process.env.EHSM_IN_GUEST_KEY_PATH = credDir;
    try {
      assert.deepEqual(
        await unsealEnvelope(ehsmProvider({ settings: settings() }), env),
        Buffer.from('ehsm secret'),
      );
    } finally {
      delete process.env.EHSM_IN_GUEST_KEY_PATH;
    }
  });

  test('many concurrent calls get distinct timestamps (no replay rejections)', async () => {
    const p = ehsmProvider({ settings: settings(), credentialDir: credDir });
    const envs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => sealEnvelope(p, keyId, Buffer.from(`s${i}`))),
    );
    const out = await Promise.all(envs.map((e) => unsealEnvelope(p, e)));
    assert.deepEqual(
      out.map(String),
      envs.map((_, i) => `s${i}`),
    );
  });

  test('wrong API key, unknown key id, tampering, endpoint down, untrusted TLS, bad settings', async () => {
    const wrong = join(dir, 'wrong');
    mkdirSync(wrong);
    writeFileSync(
      join(wrong, `credential_${APP_ID}.json`),
      JSON.stringify({ AppId: APP_ID, ApiKey: 'not-the-key' }),
    );
    copyFileSync(pki.caFile, join(wrong, `ca_${APP_ID}.pem`));
    const before = mock.rejected.length;
    await assert.rejects(
      ehsmProvider({ settings: settings(), credentialDir: wrong }).wrapKey!(Buffer.alloc(32), keyId),
      isKmsFailure('KMS_FAILED', 'ehsm', 'Encrypt failed: code 400: sign error'),
    );
    assert.equal(mock.rejected.length, before + 1);

    const p = ehsmProvider({ settings: settings(), credentialDir: credDir });
    await assert.rejects(
      p.wrapKey!(Buffer.alloc(32), 'no-such-key'),
      isKmsFailure('KMS_FAILED', 'ehsm', 'keyid is not exist'),
    );
    const env = await sealEnvelope(p, keyId, Buffer.from('x'));
    const inner = decodeStd(decodeStd(env.encrypted_key).toString());
    inner[14] ^= 1;
    await assert.rejects(
      unsealEnvelope(p, { ...env, encrypted_key: encodeStd(Buffer.from(encodeStd(inner))) }),
      isKmsFailure('KMS_FAILED', 'ehsm', 'Decrypt failed'),
    );
    await assert.rejects(
      p.unwrapKey!(Buffer.from([0xff, 0x00]), keyId, {}),
      isKmsFailure('KMS_FAILED', 'ehsm', 'expected double base64'),
    );

    const port = await deadPort();
    await assert.rejects(
      ehsmProvider({
        settings: { app_id: APP_ID, endpoint: `https://127.0.0.1:${port}` },
        credentialDir: credDir,
      }).wrapKey!(Buffer.alloc(32), keyId),
      isKmsFailure('KMS_FAILED', 'ehsm', 'unreachable (ECONNREFUSED)'),
    );
    const noCa = join(dir, 'no-ca');
    mkdirSync(noCa);
    copyFileSync(join(credDir, `credential_${APP_ID}.json`), join(noCa, `credential_${APP_ID}.json`));
    await assert.rejects(
      ehsmProvider({ settings: settings(), credentialDir: noCa }).wrapKey!(Buffer.alloc(32), keyId),
      isKmsFailure('KMS_FAILED', 'ehsm', 'TLS verification failed'),
    );
    await assert.rejects(
      ehsmProvider({ settings: settings(), credentialDir: join(dir, 'none') }).wrapKey!(
        Buffer.alloc(32),
        keyId,
      ),
      isKmsFailure('CREDENTIAL_MISSING', 'ehsm', `credential_${APP_ID}.json`),
    );
    assert.throws(
      () => ehsmProvider({ settings: { app_id: APP_ID, endpoint: 'http://ehsm.example:9000' } }),
      isKmsFailure('KMS_FAILED', 'ehsm', 'must use https'),
    );
    assert.throws(
      () => ehsmProvider({ settings: { app_id: '../x', endpoint: mock.url } }),
      isKmsFailure('KMS_FAILED', 'ehsm', 'app_id'),
    );
    await assert.rejects(
      p.getSecret!('x', {}),
      (e: unknown) => (e as { code?: string }).code === 'PROVIDER_UNSUPPORTED',
    );
  });
});
