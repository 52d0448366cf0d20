import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { vector } from '../../test/helpers/paths.js';
import { TtrpcError } from './errors.js';
import {
  decodeHeader,
  encodeFrame,
  FRAME_HEADER_LENGTH,
  FrameReader,
  MAX_MESSAGE_LENGTH,
  MessageType,
  oversizedMessage,
} from './frame.js';

interface VectorFrame {
  name: string;
  stream_id: number;
  type: number;
  flags: number;
  hex: string;
}
const vectors: VectorFrame[] = JSON.parse(readFileSync(vector('ttrpc-frames.json'), 'utf8')).frames;

describe('ttRPC frame header (cdh.md §3.1)', () => {
  for (const v of vectors) {
    test(`vector "${v.name}": header decodes and the frame re-encodes byte for byte`, () => {
      const bytes = Buffer.from(v.hex, 'hex');
      const h = decodeHeader(bytes);
      assert.deepEqual(h, { length: bytes.length - 10, streamId: v.stream_id, type: v.type, flags: v.flags });
      const again = encodeFrame(h.streamId, h.type, bytes.subarray(FRAME_HEADER_LENGTH), h.flags);
      assert.equal(again.toString('hex'), v.hex);
    });

    test(`vector "${v.name}": FrameReader yields it when fed one byte at a time`, () => {
      const bytes = Buffer.from(v.hex, 'hex');
      const r = new FrameReader();
      const frames = [];
      for (let i = 0; i < bytes.length; i++) frames.push(...r.push(bytes.subarray(i, i + 1)));
      assert.equal(frames.length, 1);
      assert.equal(frames[0].header.streamId, v.stream_id);
      assert.equal(Buffer.from(frames[0].payload!).toString('hex'), v.hex.slice(20));
      assert.ok(r.idle);
    });
  }

  test('encodeFrame refuses a payload over 4 MiB (nothing to send)', () => {
    assert.throws(
      () => encodeFrame(1, MessageType.Request, new Uint8Array(MAX_MESSAGE_LENGTH + 1)),
      (e: unknown) =>
        e instanceof TtrpcError &&
        e.code === 'TTRPC_MESSAGE_TOO_LARGE' &&
        e.message === 'message length 4194305 exceed maximum message size of 4194304',
    );
    assert.equal(encodeFrame(1, 1, new Uint8Array(MAX_MESSAGE_LENGTH)).length, MAX_MESSAGE_LENGTH + 10);
  });

  test('encodeFrame rejects stream ids outside u32', () => {
    assert.throws(() => encodeFrame(-1, 1, new Uint8Array(0)), RangeError);
    assert.throws(() => encodeFrame(2 ** 32, 1, new Uint8Array(0)), RangeError);
  });

  test('an oversized frame is reported at once and skipped without buffering its body', () => {
    const r = new FrameReader();
    const header = Buffer.alloc(10);
    header.writeUInt32BE(0xffffffff, 0); // 4 GiB announced
    header.writeUInt32BE(7, 4);
    header[8] = 1;
    const first = r.push(header);
    assert.equal(first.length, 1);
    assert.equal(first[0].oversized, true);
    assert.equal(first[0].header.length, 0xffffffff);
    assert.equal(
      oversizedMessage(first[0].header.length),
      'message length 4294967295 exceed maximum message size of 4194304',
    );
    const junk = Buffer.alloc(1 << 20, 0x5a);
    for (let i = 0; i < 8; i++) {
      assert.deepEqual(r.push(junk), []);
      assert.equal(r.buffered, 0);
    }
  });

  test('the stream resynchronises after an oversized frame', () => {
    const r = new FrameReader();
    const big = MAX_MESSAGE_LENGTH + 3;
    const header = Buffer.alloc(10);
    header.writeUInt32BE(big, 0);
    header.writeUInt32BE(1, 4);
    header[8] = 1;
    const next = encodeFrame(3, MessageType.Request, Buffer.from('after'));
    const all = Buffer.concat([header, Buffer.alloc(big, 1), next]);
    const frames = [];
    for (let off = 0; off < all.length; off += 65536) frames.push(...r.push(all.subarray(off, off + 65536)));
    assert.equal(frames.length, 2);
    assert.equal(frames[0].oversized, true);
    assert.equal(frames[1].header.streamId, 3);
    assert.equal(Buffer.from(frames[1].payload!).toString(), 'after');
  });

  test('a frame body is held only as far as it has arrived', () => {
    const r = new FrameReader();
    const header = Buffer.alloc(10);
    header.writeUInt32BE(MAX_MESSAGE_LENGTH, 0);
    header.writeUInt32BE(1, 4);
    r.push(header);
    r.push(Buffer.alloc(100));
    assert.equal(r.buffered, 100);
    assert.equal(r.idle, false);
  });

  test('property: any split of any frame sequence decodes to the same frames', () => {
    const frameArb = fc.record({
      streamId: fc.integer({ min: 0, max: 0xffffffff }),
      type: fc.integer({ min: 0, max: 255 }),
      flags: fc.integer({ min: 0, max: 255 }),
      payload: fc.uint8Array({ maxLength: 300 }),
    });
    fc.assert(
      fc.property(
        fc.array(frameArb, { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 50 })),
        (fs, cuts) => {
          const bytes = Buffer.concat(fs.map((f) => encodeFrame(f.streamId, f.type, f.payload, f.flags)));
          const r = new FrameReader();
          const got = [];
          let off = 0;
          let i = 0;
          while (off < bytes.length) {
            const n = cuts.length ? cuts[i++ % cuts.length] : bytes.length;
            got.push(...r.push(bytes.subarray(off, off + n)));
            off += n;
          }
          assert.equal(got.length, fs.length);
          got.forEach((g, k) => {
            assert.deepEqual(g.header, {
              length: fs[k].payload.length,
              streamId: fs[k].streamId,
              type: fs[k].type,
              flags: fs[k].flags,
            });
            assert.deepEqual(new Uint8Array(g.payload!), fs[k].payload);
          });
          assert.ok(r.idle);
        },
      ),
      { numRuns: 200 },
    );
  });
});
