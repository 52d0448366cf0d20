import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { encodeStd } from '../crypto/base64.js';
import { KmsError } from '../kms/errors.js';
import { KbsProvider } from '../kms/kbs/provider.js';
import { createProvider } from '../kms/registry.js';
import type { ResourceGetter } from '../kms/resource-getter.js';
import { openEnvelope, sealEnvelope } from './envelope.js';
import { SealedSecretError } from './errors.js';
import { revealPayload } from './unseal.js';

const kek = randomBytes(32);
const store = new Map<string, Uint8Array>([['kbs:///default/kek/1', kek]]);
const resources: ResourceGetter = {
  async get(uri) {
    const v = store.get(uri);
    if (!v) throw new KmsError('RESOURCE_NOT_FOUND', `no ${uri}`);
    return v;
  },
};
const providers = (name: string, settings: Record<string, unknown>) =>
  createProvider(name, settings, { resources });

test('kbs envelope: AES-256-GCM data, AES-KW wrapped key, annotation records the wrap', async () => {
  const p = await sealEnvelope({
    plaintext: Buffer.from('db-password'),
    keyId: 'kbs:///default/kek/1',
    provider: new KbsProvider(undefined, kek),
    payloadProvider: 'kbs',
    settings: {},
  });
  assert.equal(p.wrap_type, 'A256GCM');
  assert.equal(Buffer.from(p.iv, 'base64').length, 12);
  assert.deepEqual(p.annotations, { key_wrap: 'A256KW' });
  assert.equal(Buffer.from(p.encrypted_key, 'base64').length, 40);
  assert.equal(Buffer.from(await revealPayload(p, providers)).toString(), 'db-password');
  assert.equal(
    Buffer.from(await revealPayload({ ...p, provider: 'KBS' }, providers)).toString(),
    'db-password',
    'provider names are case-insensitive',
  );
});

test('wrong KEK, tampered data, bad base64 and unknown providers fail with typed errors', async () => {
  const p = await sealEnvelope({
    plaintext: Buffer.from('x'),
    keyId: 'kbs:///default/kek/1',
    provider: new KbsProvider(undefined, kek),
    payloadProvider: 'kbs',
    settings: {},
  });
  store.set('kbs:///default/kek/2', randomBytes(32));
  await assert.rejects(
    revealPayload({ ...p, key_id: 'kbs:///default/kek/2' }, providers),
    (e: unknown) => e instanceof KmsError && e.code === 'KMS_FAILED',
  );
  const data = Buffer.from(p.encrypted_data, 'base64');
  data[0] ^= 1;
  await assert.rejects(
    revealPayload({ ...p, encrypted_data: encodeStd(data) }, providers),
    (e: unknown) => e instanceof SealedSecretError && e.code === 'DECRYPT_FAILED',
  );
  await assert.rejects(
    revealPayload({ ...p, encrypted_key: 'yyy' }, providers),
    /base64 decoding failed when decode `encrypted_key`/,
  );
  await assert.rejects(
    revealPayload({ ...p, provider: 'nope' }, providers),
    (e: unknown) =>
      e instanceof KmsError &&
      e.code === 'PROVIDER_UNSUPPORTED' &&
      /Unsupported provider: nope/.test(e.message),
  );
  await assert.rejects(
    revealPayload({ ...p, version: '0.2.0' }, providers),
    (e: unknown) => e instanceof SealedSecretError && e.code === 'VERSION_UNSUPPORTED',
  );
  await assert.rejects(
    revealPayload({ ...p, key_id: 'kbs:///default/kek/none' }, providers),
    (e: unknown) => e instanceof KmsError && e.code === 'RESOURCE_NOT_FOUND',
  );
  await assert.rejects(
    openEnvelope(p, new KbsProvider(resources)).then(() =>
      revealPayload({ ...p, annotations: { key_wrap: 'A128KW' } }, providers),
    ),
    /unsupported key wrap algorithm/,
  );
});

test('kbs vault: the name is fetched as a resource', async () => {
  store.set('kbs:///default/secret/1', Buffer.from('vault value'));
  const v = {
    version: '0.1.0',
    type: 'vault' as const,
    name: 'kbs:///default/secret/1',
    provider: 'kbs',
    provider_settings: {},
    annotations: {},
  };
  assert.equal(Buffer.from(await revealPayload(v, providers)).toString(), 'vault value');
  await assert.rejects(revealPayload({ ...v, name: 'not-a-uri' }, providers), /illegal kbs resource uri/);
});
