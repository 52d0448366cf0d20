import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { vector } from '../../test/helpers/paths.js';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from './codec.js';
import { TtrpcError } from './errors.js';

interface VectorFrame {
  name: string;
  hex: string;
  service?: string;
  method?: string;
  timeout_nano?: string;
}
const frames: VectorFrame[] = JSON.parse(readFileSync(vector('ttrpc-frames.json'), 'utf8')).frames;
const byName = (n: string) => {
  const f = frames.find((x) => x.name === n);
  assert.ok(f, `vector ${n}`);
  return { ...f, body: Buffer.from(f.hex, 'hex').subarray(10) };
};
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('ttRPC envelope codec (cdh.md §3.2, §3.3)', () => {
  test('request vector: encode and decode byte for byte', () => {
    const v = byName('request');
    const inner = Buffer.from('0a087365616c65642e78', 'hex'); // UnsealSecretInput{secret:"sealed.x"}
    const req = {
      service: v.service as string,
      method: v.method as string,
      payload: inner,
      timeoutNano: Number(v.timeout_nano),
      metadata: [],
    };
    assert.equal(hex(encodeRequest(req)), hex(v.body));
    const d = decodeRequest(v.body);
    assert.equal(d.service, 'api.SealedSecretService');
    assert.equal(d.method, 'UnsealSecret');
    assert.equal(hex(d.payload), hex(inner));
    assert.equal(d.timeoutNano, 50_000_000_000);
    assert.deepEqual(d.metadata, []);
  });

  test('success response vector: status is sent empty (0a 00), then the payload', () => {
    const v = byName('success response');
    const payload = Buffer.from('0a0568656c6c6f', 'hex');
    assert.equal(hex(encodeResponse({ payload })), hex(v.body));
    assert.equal(
      hex(encodeResponse({ status: { code: 0, message: '', details: [] }, payload })),
      hex(v.body),
    );
    const d = decodeResponse(v.body);
    assert.deepEqual(d.status, { code: 0, message: '', details: [] });
    assert.equal(hex(d.payload), hex(payload));
  });

  test('error response vector', () => {
    const v = byName('error response');
    const status = { code: 13, message: '[CDH] [ERROR]: Unseal Secret failed', details: [] };
    assert.equal(hex(encodeResponse({ status, payload: new Uint8Array(0) })), hex(v.body));
    assert.deepEqual(decodeResponse(v.body), { status, payload: new Uint8Array(0) });
  });

  test('an empty output message leaves the payload field out: the body is just 0a 00', () => {
    assert.equal(hex(encodeResponse({ payload: new Uint8Array(0) })), '0a00');
  });

  test('a response without status decodes as success with an empty payload', () => {
    const d = decodeResponse(new Uint8Array(0));
    assert.equal(d.status, undefined);
    assert.equal(d.payload.length, 0);
  });

  test('metadata keeps repeated keys in order; details round-trip', () => {
    const req = {
      service: 's',
      method: 'm',
      payload: new Uint8Array(0),
      timeoutNano: 0,
      metadata: [
        { key: 'a', value: '1' },
        { key: 'b', value: '' },
        { key: 'a', value: '2' },
      ],
    };
    assert.deepEqual(decodeRequest(encodeRequest(req)), req);
    const resp = {
      status: { code: 5, message: 'x', details: [{ typeUrl: 't/u', value: new Uint8Array([1, 2]) }] },
      payload: new Uint8Array(0),
    };
    assert.deepEqual(decodeResponse(encodeResponse(resp)), resp);
  });

  test('undecodable envelopes raise TTRPC_PROTOCOL with the decoder text', () => {
    for (const bad of ['0a05ff', '0f', '0a02fffe', '2a05']) {
      assert.throws(
        () => decodeRequest(Buffer.from(bad, 'hex')),
        (e: unknown) =>
          e instanceof TtrpcError && e.code === 'TTRPC_PROTOCOL' && /^ttrpc\.Request/.test(e.message),
        bad,
      );
    }
    assert.throws(() => decodeResponse(Buffer.from('0a05', 'hex')), TtrpcError);
  });

  test('property: requests round-trip', () => {
    const kv = fc.record({ key: fc.string(), value: fc.string() });
    fc.assert(
      fc.property(
        fc.record({
          service: fc.string(),
          method: fc.string(),
          payload: fc.uint8Array({ maxLength: 200 }),
          timeoutNano: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          metadata: fc.array(kv, { maxLength: 4 }),
        }),
        (r) => {
          const d = decodeRequest(encodeRequest(r));
          const metadata = r.metadata.map((x) => ({ ...x }));
          assert.deepEqual({ ...d, payload: new Uint8Array(d.payload) }, { ...r, metadata });
        },
      ),
      { numRuns: 200 },
    );
  });

  test('property: arbitrary bytes either decode or throw TtrpcError, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        for (const f of [decodeRequest, decodeResponse]) {
          try {
            f(b);
          } catch (e) {
            assert.ok(e instanceof TtrpcError, String(e));
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});
