import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { agentPolicyClaims, InitDataError, parseInitData } from './init-data.js';

test('init-data: digest over raw bytes, claims transformations, strict fields', () => {
  const body =
    'version = "0.1.0"\nalgorithm = "sha384"\n[data]\n"aa.toml" = "[token_configs]\\nx = 1"\n"other" = "v"\n';
  const r = parseInitData(body);
  assert.deepEqual(r.digest, createHash('sha384').update(body).digest());
  assert.deepEqual(r.claims, { 'aa.toml': { token_configs: { x: 1 } }, other: 'v' });
  assert.equal(parseInitData('version = "x"\nalgorithm = "sm3"\n').digest.length, 32);
  for (const bad of [
    'version = 1\nalgorithm = "sha256"',
    'version = "1"\nalgorithm = "SHA256"',
    'version = "1"\nalgorithm = "sha-256"',
    'nope',
    'version = "1"\nalgorithm = "sha256"\n[data]\nx = 1',
  ]) {
    assert.throws(() => parseInitData(bad), InitDataError, bad);
  }
  assert.deepEqual(
    agentPolicyClaims('package p\npolicy_data := {\n "a": [1, 2,],\n "s": "}"\n}\nallow := true'),
    { a: [1, 2], s: '}' },
  );
  assert.equal(agentPolicyClaims('package p'), undefined);
});
