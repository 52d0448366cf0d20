import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryAuditLog } from './audit/memory.js';
import type { AuditEntry } from './audit/types.js';
import { AuditBatcher } from './audit-batcher.js';

test('audit batcher: concurrent appends share one appendMany; failures reach every caller', async () => {
  const inner = new MemoryAuditLog();
  const calls: number[] = [];
  let fail = false;
  const log = Object.assign(inner, {
    async appendMany(entries: AuditEntry[]) {
      calls.push(entries.length);
      if (fail) throw new Error('disk full');
      for (const e of entries) await inner.append(e);
    },
  });
  const b = new AuditBatcher(log);
  const e = (path: string): AuditEntry => ({ kind: 'resource', decision: 'allow', path });
  await Promise.all(['a/b/c', 'a/b/d', 'a/b/e'].map((p) => b.append(e(p))));
  assert.deepEqual(calls, [3]);
  assert.deepEqual(
    (await inner.list()).map((r) => r.path),
    ['a/b/c', 'a/b/d', 'a/b/e'],
  );
  assert.equal((await inner.verify()).ok, true);
  fail = true;
  const rs = await Promise.allSettled([b.append(e('x/y/z')), b.append(e('x/y/w'))]);
  assert.ok(rs.every((r) => r.status === 'rejected'));
  // Without appendMany: sequential appends.
  const plain = new MemoryAuditLog();
  const b2 = new AuditBatcher(plain);
  await Promise.all([b2.append(e('p/q/r')), b2.append(e('p/q/s'))]);
  assert.equal((await plain.list()).length, 2);
});
