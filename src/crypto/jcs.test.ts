import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { vector } from '../../test/helpers/paths.js';
import { canonicalize } from './jcs.js';

test('JCS orders members and matches the runtime-data vectors', () => {
  assert.equal(
    canonicalize({ b: 1, a: [true, null, 'x'], c: { z: 1e21, y: 0.5 } }),
    '{"a":[true,null,"x"],"b":1,"c":{"y":0.5,"z":1e+21}}',
  );
  const v = JSON.parse(readFileSync(vector('report-data.json'), 'utf8'));
  let checked = 0;
  const visit = (o: unknown): void => {
    if (o && typeof o === 'object') {
      const r = o as Record<string, unknown>;
      if (typeof r.canonical === 'string' && typeof r.sha384_hex === 'string') {
        assert.equal(canonicalize(JSON.parse(r.canonical)), r.canonical);
        assert.equal(createHash('sha384').update(r.canonical).digest('hex'), r.sha384_hex);
        checked++;
      }
      for (const x of Object.values(r)) visit(x);
    }
  };
  visit(v);
  assert.ok(checked > 0, 'vectors carry canonical strings');
});
