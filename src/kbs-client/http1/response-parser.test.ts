import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { Http1ParseError, type ParsedResponse, ResponseParser } from './response-parser.js';

const MAX = 1024;

/** Feeds `text` in the given pieces; returns the response, or what `end()` makes of it when `close`. */
function parse(pieces: (string | Buffer)[], opts: { close?: boolean; head?: boolean; max?: number } = {}) {
  const p = new ResponseParser({ maxBodyBytes: opts.max ?? MAX, head: opts.head });
  let res: ParsedResponse | undefined;
  for (const piece of pieces) {
    assert.equal(res, undefined, 'no bytes after a complete response in these cases');
    res = p.push(Buffer.from(piece));
  }
  if (!res && opts.close) res = p.end();
  return res;
}

const kind = (k: string) => (e: unknown) => e instanceof Http1ParseError && e.kind === k;

test('content-length body, headers lower-cased, set-cookie listed, repeats joined', () => {
  const r = parse([
    'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n' +
      'X-A: 1\r\nX-A:  2 \r\nContent-Length: 7\r\n\r\n{"a":1}',
  ])!;
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), '{"a":1}');
  assert.equal(r.headers['content-type'], 'application/json');
  assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
  assert.equal(r.headers['x-a'], '1, 2');
  assert.equal(r.keepAlive, true);
});

test('chunked bodies with extensions and trailers; keep-alive rules', () => {
  const r = parse([
    'HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n',
    '4;ext=1\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: t\r\n\r\n',
  ])!;
  assert.equal(r.status, 401);
  assert.equal(r.body.toString(), 'Wikipedia in\r\n\r\nchunks.');
  assert.equal(r.keepAlive, false);
  assert.equal(parse(['HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n'])!.keepAlive, false);
  assert.equal(
    parse(['HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n'])!.keepAlive,
    true,
  );
});

test('no framing: the body runs to the end of the connection', () => {
  const p = new ResponseParser({ maxBodyBytes: MAX });
  assert.equal(p.push(Buffer.from('HTTP/1.1 200 OK\r\n\r\nhello ')), undefined);
  assert.equal(p.push(Buffer.from('world')), undefined);
  const r = p.end();
  assert.equal(r.body.toString(), 'hello world');
  assert.equal(r.keepAlive, false);
});

test('interim 1xx responses are skipped; 204, 304 and HEAD have no body', () => {
  const r = parse([
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  ])!;
  assert.equal(r.status, 200);
  assert.equal(r.headers.link, undefined);
  assert.equal(parse(['HTTP/1.1 204 No Content\r\n\r\n'])!.body.length, 0);
  assert.equal(parse(['HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n'])!.body.length, 0);
  assert.equal(parse(['HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n'], { head: true })!.body.length, 0);
});

test('malformed responses are refused', () => {
  const bad = [
    'HTTP/2 200 OK\r\n\r\n',
    'HTTP/1.1 20 OK\r\n\r\n',
    'HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n',
    'HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n',
    'HTTP/1.1 200 OK\r\nX: a\nY: b\r\n\r\n',
    'HTTP/1.1 200 OK\r\nX: a\u0001\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nab',
    'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 0x1\r\n\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXX',
    'HTTP/1.1 101 Switching Protocols\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab',
  ];
  for (const b of bad) assert.throws(() => parse([b]), kind('malformed'), JSON.stringify(b));
  // Identical repeated Content-Length values are one value (RFC 9112 §6.3).
  assert.equal(
    parse(['HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok'])!.body.toString(),
    'ok',
  );
});

test('size limits: header, declared length, chunked growth, close-delimited growth', () => {
  assert.throws(() => parse([`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70_000)}`]), kind('too-large'));
  assert.throws(() => parse(['HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n']), kind('too-large'));
  const chunk = `400\r\n${'a'.repeat(0x400)}\r\n`;
  assert.throws(
    () => parse(['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', chunk, chunk]),
    kind('too-large'),
  );
  assert.throws(() => parse(['HTTP/1.1 200 OK\r\n\r\n', 'a'.repeat(MAX + 1)]), kind('too-large'));
  assert.equal(parse(['HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n', 'a'.repeat(MAX)])!.body.length, MAX);
});

test('a connection closed early is incomplete, and says whether anything arrived', () => {
  const empty = new ResponseParser({ maxBodyBytes: MAX });
  assert.throws(
    () => empty.end(),
    (e) => kind('incomplete')(e) && /before any response/.test(String(e)),
  );
  const partial = new ResponseParser({ maxBodyBytes: MAX });
  partial.push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab'));
  assert.throws(
    () => partial.end(),
    (e) => kind('incomplete')(e) && /not complete|was complete/.test(String(e)),
  );
});

test('property: any split of a valid response parses to the same result', () => {
  const bodies = fc.uint8Array({ maxLength: 300 });
  fc.assert(
    fc.property(bodies, fc.boolean(), fc.array(fc.nat(400), { maxLength: 6 }), (body, chunked, cuts) => {
      let wire: Buffer;
      if (chunked) {
        const parts: Buffer[] = [Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n')];
        for (let i = 0; i < body.length; i += 97) {
          const piece = body.subarray(i, i + 97);
          parts.push(
            Buffer.from(`${piece.length.toString(16)}\r\n`),
            Buffer.from(piece),
            Buffer.from('\r\n'),
          );
        }
        parts.push(Buffer.from('0\r\n\r\n'));
        wire = Buffer.concat(parts);
      } else {
        wire = Buffer.concat([
          Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`),
          body,
        ]);
      }
      const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
      const pieces: Buffer[] = [];
      let at = 0;
      for (const c of points) {
        pieces.push(wire.subarray(at, c));
        at = c;
      }
      pieces.push(wire.subarray(at));
      const r = parse(pieces.filter((p) => p.length > 0));
      assert.ok(r);
      assert.deepEqual(new Uint8Array(r.body), body);
    }),
    { numRuns: 500 },
  );
});
