import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CocosealError } from '../common/errors.js';
import { SealedSecretError } from './errors.js';
import { checkVersion, parsePayload } from './payload.js';
import { parseSealedSecret, parseSealedSecretUnverified } from './sealed-secret.js';

const vault = {
  version: '0.1.0',
  type: 'vault',
  name: 'kbs:///a/b/c',
  provider: 'kbs',
  provider_settings: {},
  annotations: {},
};
const envelope = {
  version: '0.1.0',
  type: 'envelope',
  key_id: 'k',
  encrypted_key: '',
  encrypted_data: '',
  wrap_type: 'A256GCM',
  iv: '',
  provider: 'aws',
  provider_settings: {},
  annotations: {},
};
const bad = (e: unknown) => e instanceof SealedSecretError && e.code === 'BAD_FORMAT';

test('required fields, including provider_settings and annotations', () => {
  for (const doc of [vault, envelope]) {
    for (const k of Object.keys(doc)) {
      const { [k]: _, ...rest } = doc as Record<string, unknown>;
      assert.throws(() => parsePayload(JSON.stringify(rest)), bad, `missing ${k}`);
    }
  }
});

test('wrong types, unknown type and wrap_type are parse errors; unknown fields are ignored', () => {
  assert.throws(() => parsePayload(JSON.stringify({ ...vault, version: 1 })), bad);
  assert.throws(() => parsePayload(JSON.stringify({ ...vault, annotations: 'x' })), bad);
  assert.throws(() => parsePayload(JSON.stringify({ ...vault, type: 'Vault' })), bad);
  assert.throws(() => parsePayload(JSON.stringify({ ...envelope, wrap_type: 'A128GCM' })), bad);
  assert.throws(() => parsePayload('[]'), bad);
  assert.deepEqual(parsePayload(JSON.stringify({ ...vault, extra: { deep: true } })), vault);
  assert.equal(parsePayload(JSON.stringify({ ...envelope, wrap_type: 'A256CTR' })).type, 'envelope');
});

test('version is checked at unseal, not at parse', () => {
  const doc = parsePayload(JSON.stringify({ ...vault, version: '0.2.0' }));
  assert.throws(
    () => checkVersion(doc),
    (e: unknown) => e instanceof SealedSecretError && e.code === 'VERSION_UNSUPPORTED',
  );
  checkVersion(parsePayload(JSON.stringify(vault)));
});

test('property: no input makes the parsers throw anything but a typed error', () => {
  const segment = fc.oneof(
    fc.string(),
    fc.base64String(),
    fc.constantFrom('', 'e30', 'eyJraWQiOiJrIn0', 'AAAA'),
  );
  const candidates = fc.oneof(
    fc.string(),
    fc.array(segment, { minLength: 1, maxLength: 6 }).map((a) => a.join('.')),
    fc.array(segment, { maxLength: 4 }).map((a) => `sealed.${a.join('.')}`),
    fc.uint8Array().map((b) => Buffer.from(b)),
  );
  fc.assert(
    fc.property(candidates, (input) => {
      for (const f of [parseSealedSecret, parseSealedSecretUnverified, parsePayload]) {
        try {
          f(input as string);
        } catch (e) {
          assert.ok(e instanceof CocosealError, `untyped error from ${f.name}: ${String(e)}`);
        }
      }
    }),
    { numRuns: 2000 },
  );
});
