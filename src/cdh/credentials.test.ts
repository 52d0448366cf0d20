import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { KmsError } from '../kms/errors.js';
import type { ResourceGetter } from '../kms/resource-getter.js';
import { checkCredentialPath, provisionCredentials } from './credentials.js';
import { CdhError } from './errors.js';

const base = mkdtempSync(join(tmpdir(), 'cdh-cred-'));
after(() => rmSync(base, { recursive: true, force: true }));
const resources: ResourceGetter = {
  async get(uri) {
    if (uri === 'kbs:///default/aws/credential') return Buffer.from('{"k":"v"}');
    throw new KmsError('RESOURCE_NOT_FOUND', `no ${uri}`);
  },
};

test('credential paths are checked by components under <base>/kbs', () => {
  checkCredentialPath(join(base, 'kbs', 'kms-credential', 'aws', 'c.json'), base);
  for (const bad of [
    join(`${base}`, 'kbsX', 'a'),
    `${base}/kbs/../escape`,
    `${base}/kbs/./a`,
    `${base}/kbs`,
    'relative/kbs/a',
    '/etc/passwd',
  ]) {
    assert.throws(
      () => checkCredentialPath(bad, base),
      (e: unknown) =>
        e instanceof CdhError &&
        e.code === 'CREDENTIAL_PATH_INVALID' &&
        /illegal path to put credential/.test(e.message),
      bad,
    );
  }
});

test('credentials are fetched and written with their parents created (0600)', async () => {
  const path = join(base, 'kbs', 'kms-credential', 'aws', 'credential.json');
  assert.equal(
    await provisionCredentials([{ resourceUri: 'kbs:///default/aws/credential', path }], base, resources),
    1,
  );
  assert.equal(readFileSync(path, 'utf8'), '{"k":"v"}');
  assert.equal(statSync(path).mode & 0o777, 0o600);
});

test('one bad path refuses everything before fetching; a failed fetch aborts startup', async () => {
  const good = join(base, 'kbs', 'good');
  await assert.rejects(
    provisionCredentials(
      [
        { resourceUri: 'kbs:///default/aws/credential', path: good },
        { resourceUri: 'kbs:///x/y/z', path: '/tmp/evil' },
      ],
      base,
      resources,
    ),
    (e: unknown) => e instanceof CdhError && e.code === 'CREDENTIAL_PATH_INVALID',
  );
  assert.ok(!existsSync(good), 'nothing was written');
  await assert.rejects(
    provisionCredentials([{ resourceUri: 'kbs:///missing/x/y', path: good }], base, resources),
    (e: unknown) => e instanceof CdhError && e.code === 'CREDENTIAL_FAILED',
  );
});
