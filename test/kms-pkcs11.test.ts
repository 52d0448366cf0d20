import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Command } from 'commander';
import { pkcs11SealCommand } from '../src/cli/envelope/pkcs11.js';
import { decodeStd, encodeStd } from '../src/crypto/base64.js';
import { KmsError } from '../src/kms/errors.js';
import { finalizeAllModules } from '../src/kms/pkcs11/library.js';
import { pkcs11Provider } from '../src/kms/pkcs11/provider.js';
import { checkModuleAllowed } from '../src/kms/pkcs11/settings.js';
import { isKmsFailure, sealEnvelope, unsealEnvelope } from './fixtures/kms/envelope.js';
import { createSoftHsm, type SoftHsm, softhsmUtilAvailable } from './fixtures/kms/softhsm.js';
import { needs, skipUnless } from './helpers/components.js';

const skip = skipUnless(needs.softhsm, () =>
  softhsmUtilAvailable() ? undefined : 'softhsm2-util not installed (Debian softhsm2)',
);

describe('pkcs11 provider on SoftHSM2', { skip }, () => {
  let hsm: SoftHsm;
  const settings = () => ({ module: hsm.module, token_label: 'cocoseal', key_label: 'kek-1' });
  const provider = (over: Record<string, unknown> = {}, credentialDir = hsm.credentialDir) =>
    pkcs11Provider({ settings: { ...settings(), ...over }, credentialDir });

  before(() => {
    hsm = createSoftHsm([
      {
        label: 'cocoseal',
        userPin: '5678',
        keys: [{ label: 'kek-1' }, { label: 'kek-2' }, { label: 'weak', sensitive: false }],
      },
      { label: 'fresh', userPin: '2468', keys: [{ label: 'kek-f' }] },
    ]);
  });
  after(() => {
    finalizeAllModules();
    hsm?.cleanup();
  });

  /** The parsed options of `… envelope pkcs11 --module M -t cocoseal -l kek-1 --pin-file F --mechanism X`. */
  function sealOptions(mechanism: string, pin: string): Record<string, unknown> {
    const cmd = new Command('pkcs11').exitOverride();
    pkcs11SealCommand.configure(cmd);
    const pinFile = join(hsm.dir, 'seal-pin');
    writeFileSync(pinFile, pin);
    cmd.parse(
      [
        '--module',
        hsm.module,
        '-t',
        'cocoseal',
        '-l',
        'kek-1',
        '--pin-file',
        pinFile,
        '--mechanism',
        mechanism,
      ],
      {
        from: 'user',
      },
    );
    return cmd.opts();
  }

  for (const mechanism of ['CKM_AES_KEY_WRAP_PAD', 'CKM_AES_KEY_WRAP', 'CKM_AES_GCM']) {
    test(`seal through the seal command and unseal through the factory (${mechanism})`, async () => {
      // A trailing newline in the PIN file is trimmed.
      const sealed = await pkcs11SealCommand.create(sealOptions(mechanism, '5678\n'));
      assert.equal(sealed.payloadProvider, 'pkcs11');
      assert.deepEqual(sealed.settings, settings());

      const plaintext = Buffer.from(`a secret for ${mechanism}`);
      const env = await sealEnvelope(sealed.provider, 'kek-1', plaintext);
      assert.equal(env.annotations.mechanism, mechanism);
      if (mechanism === 'CKM_AES_GCM') assert.equal(decodeStd(String(env.annotations.iv)).length, 12);
      // RFC 3394/5649 wrap of 32 bytes is 40 bytes; GCM is 32 + 16-byte tag.
      assert.equal(decodeStd(env.encrypted_key).length, mechanism === 'CKM_AES_GCM' ? 48 : 40);

      const unsealer = pkcs11Provider({ settings: sealed.settings, credentialDir: hsm.credentialDir });
      assert.deepEqual(await unsealEnvelope(unsealer, env), plaintext);
    });
  }

  test('the credential directory falls back to PKCS11_IN_GUEST_KEY_PATH', async () => {
    const env = await sealEnvelope(provider(), 'kek-1', Buffer.from('x'));
    process.env.PKCS11_IN_GUEST_KEY_PATH = hsm.credentialDir;
    try {
      const p = pkcs11Provider({ settings: settings() });
      assert.deepEqual(await unsealEnvelope(p, env), Buffer.from('x'));
    } finally {
      delete process.env.PKCS11_IN_GUEST_KEY_PATH;
    }
  });

  test('concurrent unseals share the module and use separate sessions', async () => {
    const p = provider();
    const envs = await Promise.all(
      Array.from({ length: 12 }, (_, i) => sealEnvelope(p, 'kek-1', Buffer.from(`secret ${i}`))),
    );
    const results = await Promise.all(
      envs.flatMap((env) => [unsealEnvelope(provider(), env), unsealEnvelope(provider(), env)]),
    );
    results.forEach((r, i) => {
      assert.equal(r.toString(), `secret ${Math.floor(i / 2)}`);
    });
  });

  test('a DEK wrapped under one key does not unwrap under another', async () => {
    const env = await sealEnvelope(provider(), 'kek-1', Buffer.from('x'));
    await assert.rejects(
      unsealEnvelope(provider({ key_label: 'kek-2' }), { ...env, key_id: 'kek-2' }),
      isKmsFailure(
        'KMS_FAILED',
        'pkcs11',
        /unwrap with key 'kek-2'.*(wrapped key rejected|rejected the wrapped key)/,
      ),
    );
  });

  test('tampered wrapped keys are rejected by the token (key wrap and GCM)', async () => {
    for (const mechanism of ['CKM_AES_KEY_WRAP_PAD', 'CKM_AES_GCM']) {
      const env = await sealEnvelope(sealingProvider(mechanism), 'kek-1', Buffer.from('x'));
      const bad = decodeStd(env.encrypted_key);
      bad[3] ^= 0x10;
      await assert.rejects(
        unsealEnvelope(provider(), { ...env, encrypted_key: encodeStd(bad) }),
        isKmsFailure('KMS_FAILED', 'pkcs11', /wrapped key|tampered/),
      );
    }
  });

  function sealingProvider(mechanism: string) {
    const opts = sealOptions(mechanism, '5678');
    return {
      name: 'pkcs11',
      wrapKey: async (dek: Uint8Array, keyId: string) =>
        (await pkcs11SealCommand.create(opts)).provider.wrapKey!(dek, keyId),
    };
  }

  test('wrong PIN: typed KMS_FAILED naming pkcs11 and "PIN incorrect" (fresh login and logged-in token)', async () => {
    const wrongDir = join(hsm.dir, 'wrong-pin');
    mkdirSync(wrongDir);
    writeFileSync(join(wrongDir, 'pin_fresh.txt'), '1111');
    writeFileSync(join(wrongDir, 'pin_cocoseal.txt'), '1111');
    // Token never logged in by this process: the token itself rejects the PIN.
    const freshEnvelope = {
      key_id: 'kek-f',
      encrypted_key: encodeStd(Buffer.alloc(40)),
      encrypted_data: '',
      iv: '',
      annotations: {},
    };
    await assert.rejects(
      unsealEnvelope(
        pkcs11Provider({
          settings: { module: hsm.module, token_label: 'fresh', key_label: 'kek-f' },
          credentialDir: wrongDir,
        }),
        freshEnvelope,
      ),
      isKmsFailure('KMS_FAILED', 'pkcs11', /PIN incorrect \(CKR_PIN_INCORRECT\)/),
    );
    // Token already logged in by other unseals: a different PIN is refused, not waved through.
    const env = await sealEnvelope(provider(), 'kek-1', Buffer.from('x'));
    await assert.rejects(
      unsealEnvelope(provider({}, wrongDir), env),
      isKmsFailure('KMS_FAILED', 'pkcs11', 'PIN incorrect'),
    );
    // The correct PIN still works afterwards.
    assert.deepEqual(await unsealEnvelope(provider(), env), Buffer.from('x'));
  });

  test('errors name the cause: key not found, token not found, missing PIN file, key id mismatch', async () => {
    await assert.rejects(
      provider({ key_label: 'nope' }).wrapKey!(Buffer.alloc(32), 'nope'),
      isKmsFailure('KMS_FAILED', 'pkcs11', "key 'nope' not found on token 'cocoseal'"),
    );
    writeFileSync(join(hsm.credentialDir, 'pin_missing.txt'), '1');
    await assert.rejects(
      provider({ token_label: 'missing' }).wrapKey!(Buffer.alloc(32), 'kek-1'),
      isKmsFailure('KMS_FAILED', 'pkcs11', "no token labelled 'missing'"),
    );
    await assert.rejects(
      provider({}, join(hsm.dir, 'no-such-dir')).unwrapKey!(Buffer.alloc(40), 'kek-1', {}),
      isKmsFailure('CREDENTIAL_MISSING', 'pkcs11', 'pin_cocoseal.txt'),
    );
    await assert.rejects(
      provider().wrapKey!(Buffer.alloc(32), 'kek-2'),
      isKmsFailure('KMS_FAILED', 'pkcs11', "does not match provider_settings.key_label 'kek-1'"),
    );
    await assert.rejects(
      provider().unwrapKey!(Buffer.alloc(40), 'kek-1', { mechanism: 'CKM_DES3_CBC' }),
      isKmsFailure('KMS_FAILED', 'pkcs11', 'unsupported annotations.mechanism'),
    );
    await assert.rejects(
      provider().unwrapKey!(Buffer.alloc(48), 'kek-1', { mechanism: 'CKM_AES_GCM' }),
      isKmsFailure('KMS_FAILED', 'pkcs11', 'annotations.iv'),
    );
    assert.throws(
      () => provider({ module: undefined }),
      isKmsFailure('KMS_FAILED', 'pkcs11', 'provider_settings.module'),
    );
    assert.throws(
      () => provider({ token_label: '../x' }),
      isKmsFailure('KMS_FAILED', 'pkcs11', 'cannot name a PIN file'),
    );
  });

  test('refuses to seal with a key whose value can be read (CKA_SENSITIVE false)', async () => {
    await assert.rejects(
      provider({ key_label: 'weak' }).wrapKey!(Buffer.alloc(32), 'weak'),
      isKmsFailure('KMS_FAILED', 'pkcs11', 'is not sensitive'),
    );
  });

  test('vault is not supported', async () => {
    await assert.rejects(
      provider().getSecret!('x', {}),
      (e: unknown) => e instanceof KmsError && e.code === 'PROVIDER_UNSUPPORTED',
    );
  });
});

test('module paths from payloads: absolute, existing, and allowed', () => {
  assert.throws(() => checkModuleAllowed('libsofthsm2.so', ''), /must be absolute/);
  assert.throws(() => checkModuleAllowed('/nonexistent/lib.so', ''), /not found/);
  // /tmp is not a system library directory.
  const tmpLib = join(process.env.TMPDIR ?? '/tmp', `cocoseal-fake-${process.pid}.so`);
  writeFileSync(tmpLib, '');
  try {
    assert.throws(() => checkModuleAllowed(tmpLib, ''), /outside the system library directories/);
    assert.equal(checkModuleAllowed(tmpLib, `/x.so,${tmpLib}`), tmpLib);
    assert.throws(
      () => checkModuleAllowed(tmpLib, '/usr/lib/other.so'),
      /not listed in PKCS11_ALLOWED_MODULES/,
    );
  } finally {
    rmSync(tmpLib);
  }
});
