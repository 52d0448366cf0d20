import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SealedSecretError } from './errors.js';
import { formatResourceUri, parseResourceUri, resourceUrl } from './resource-uri.js';

test('plugins, hosts, ports and queries', () => {
  assert.deepEqual(parseResourceUri('kbs:///default/key/1'), {
    plugin: 'resource',
    kbsAddress: '',
    segments: ['default', 'key', '1'],
    path: 'default/key/1',
    query: undefined,
  });
  assert.equal(parseResourceUri('kbs+pkcs11:///a/b/c').plugin, 'pkcs11');
  const custom = parseResourceUri('kbs+custom://example.com:8080/a/b/c?x=y#frag');
  assert.equal(custom.kbsAddress, 'example.com:8080');
  assert.equal(custom.query, 'x=y');
  assert.equal(parseResourceUri('kbs:///a/b/c?').query, '');
  assert.deepEqual(parseResourceUri('kbs+resource:///a/b/c'), parseResourceUri('kbs:///a/b/c'));
  assert.equal(parseResourceUri('KBS:///a/../b/c d').path, 'b/c%20d');
  assert.deepEqual(parseResourceUri('kbs:///a//b/').segments, ['a', '', 'b', '']);
});

test('errors: empty plugin, other schemes, empty path, opaque form', () => {
  for (const bad of ['kbs+:///x', 'http:///a/b/c', 'kbs://host', 'kbs:abc', 'not a uri']) {
    assert.throws(
      () => parseResourceUri(bad),
      (e: unknown) => e instanceof SealedSecretError && e.code === 'RESOURCE_URI_INVALID',
      bad,
    );
  }
});

test('re-serialization and the KBS URL mapping', () => {
  assert.equal(formatResourceUri(parseResourceUri('kbs+resource://h:1/a/b/c?q')), 'kbs://h:1/a/b/c?q');
  assert.equal(
    resourceUrl('http://kbs:8080/', parseResourceUri('kbs:///default/key/1')),
    'http://kbs:8080/kbs/v0/resource/default/key/1',
  );
  assert.equal(
    resourceUrl('http://[::1]:8080', parseResourceUri('kbs+plug://x/a/b?y=1')),
    'http://[::1]:8080/kbs/v0/plug/a/b?y=1',
  );
});
