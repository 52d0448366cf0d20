import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCocosealError } from '../common/errors.js';
import { KmsError } from '../kms/errors.js';
import { createProvider, knownProviders } from '../kms/registry.js';
import type { ResourceGetter } from '../kms/resource-getter.js';
import { loadCdhConfig } from './config.js';
import { ConfidentialDataHub } from './hub.js';

/*
 * The hub loads signature code and KMS providers on its first unseal (issue 4); these check that the
 * outcomes are those of eagerly loaded providers. Payloads use the unsigned legacy form (skip mode).
 */

const resources: ResourceGetter = {
  async get(uri) {
    if (uri === 'kbs:///default/app/pw') return Buffer.from('hunter2');
    throw new KmsError('RESOURCE_NOT_FOUND', `no ${uri}`);
  },
};
const hub = new ConfidentialDataHub(
  { ...loadCdhConfig({ env: {}, cmdline: '' }), skipSealedSecretVerification: true },
  resources,
  {},
);
const unsigned = (payload: Record<string, unknown>) =>
  Buffer.from(
    `sealed.fakejwsheader.${Buffer.from(JSON.stringify({ version: '0.1.0', annotations: {}, provider_settings: {}, ...payload })).toString('base64url')}.fakesignature`,
  );
const line = (e: unknown) => (isCocosealError(e) ? e.toLine() : String(e));

async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    return `ok ${Buffer.from((await p) as Uint8Array).toString()}`;
  } catch (e) {
    return line(e);
  }
}

test('kbs vault unseal through the lazily loaded pipeline', async () => {
  const r = await hub.unseal(unsigned({ type: 'vault', name: 'kbs:///default/app/pw', provider: 'kbs' }));
  assert.equal(Buffer.from(r).toString(), 'hunter2');
});

test('a provider loaded on demand fails exactly as the provider itself does', async () => {
  // AWS without a region: the factory's own settings error, as with an eagerly imported registry.
  const { awsProvider } = await import('../kms/aws/provider.js');
  let direct = '';
  try {
    awsProvider({ settings: {} });
  } catch (e) {
    direct = line(e);
  }
  assert.match(direct, /region/);
  for (const provider of ['aws', 'AWS']) {
    assert.equal(await outcome(hub.unseal(unsigned({ type: 'vault', name: 'x', provider }))), direct);
  }
  assert.match(
    await outcome(hub.unseal(unsigned({ type: 'vault', name: 'x', provider: 'nope' }))),
    /PROVIDER_UNSUPPORTED: Unsupported provider: nope/,
  );
});

test('createProvider without preloading hands out a stand-in that loads the provider on first call', async () => {
  assert.deepEqual(knownProviders(), ['kbs', 'aliyun', 'aws', 'ehsm', 'pkcs11']);
  // ehsm has not been loaded in this process: its settings error surfaces from the call.
  const p = createProvider('EHSM', { app_id: '..' }, {});
  assert.equal(p.name, 'ehsm');
  const { ehsmProvider } = await import('../kms/ehsm/provider.js');
  let direct = '';
  try {
    ehsmProvider({ settings: { app_id: '..' } });
  } catch (e) {
    direct = line(e);
  }
  assert.match(direct, /app_id/);
  assert.equal(await outcome(p.getSecret!('x', {})), direct);
  assert.equal(await outcome(p.unwrapKey!(new Uint8Array(8), 'k', {})), direct);
  // Once loaded, createProvider runs the factory itself, synchronously.
  assert.throws(
    () => createProvider('ehsm', { app_id: '..' }, {}),
    (e) => line(e) === direct,
  );
  assert.throws(() => createProvider('nope', {}, {}), /Unsupported provider: nope/);
});
