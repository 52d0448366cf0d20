import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CookieJar, SESSION_COOKIE } from './cookie-jar.js';

test('the KBS session cookie is kept until its Expires', () => {
  const jar = new CookieJar();
  const now = Date.parse('2026-08-21T13:11:50Z');
  jar.store(['kbs-session-id=4f2c3a0e9b1d4e6f8a7b6c5d4e3f2a1b; Expires=Fri, 21 Aug 2026 13:16:50 GMT'], now);
  assert.equal(jar.header(now), 'kbs-session-id=4f2c3a0e9b1d4e6f8a7b6c5d4e3f2a1b');
  assert.equal(jar.expiresAt(SESSION_COOKIE), Date.parse('2026-08-21T13:16:50Z'));
  assert.equal(jar.header(now + 5 * 60_000), undefined);
  assert.equal(jar.has(SESSION_COOKIE, now + 5 * 60_000), false);
});

test('Max-Age wins, deletion and malformed cookies', () => {
  const jar = new CookieJar();
  jar.store(['a=1; Max-Age=10; Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'junk', '=x', 'b=2'], 1000);
  assert.equal(jar.header(1000), 'a=1; b=2');
  jar.store(['b=; Max-Age=0'], 1000);
  assert.equal(jar.header(1000), 'a=1');
  assert.equal(jar.header(11_001), undefined);
});
