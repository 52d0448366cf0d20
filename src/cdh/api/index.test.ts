import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { vector } from '../../../test/helpers/paths.js';
import { TtrpcClient } from '../../ttrpc/client.js';
import { decodeRequest, decodeResponse } from '../../ttrpc/codec.js';
import { TtrpcStatusError } from '../../ttrpc/errors.js';
import { TtrpcServer } from '../../ttrpc/server.js';
import { GrpcCode } from '../../ttrpc/status.js';
import { tempSocketDir } from '../../ttrpc/testing.js';
import {
  AttestationAgentRpc,
  CdhRpc,
  callRpc,
  GetResourceRequest,
  GetResourceResponse,
  GetTokenRequest,
  GetTokenResponse,
  ImagePullRequest,
  ImagePullResponse,
  KeyProviderKeyWrapProtocolInput,
  KeyProviderKeyWrapProtocolOutput,
  registerRpc,
  SecureMountRequest,
  SecureMountResponse,
  UnsealSecretInput,
  UnsealSecretOutput,
  WRAP_KEY_NOT_SUPPORTED,
} from './index.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const enc = (s: string) => new TextEncoder().encode(s);
const frames: Array<{ name: string; hex: string }> = JSON.parse(
  readFileSync(vector('ttrpc-frames.json'), 'utf8'),
).frames;
const body = (name: string) => Buffer.from(frames.find((f) => f.name === name)!.hex, 'hex').subarray(10);

describe('CDH API message codecs (cdh.md §2.1)', () => {
  test('UnsealSecretInput/Output match the worked frames', () => {
    const inner = decodeRequest(body('request')).payload;
    assert.equal(hex(UnsealSecretInput.encode({ secret: enc('sealed.x') })), hex(inner));
    assert.equal(Buffer.from(UnsealSecretInput.decode(inner).secret).toString(), 'sealed.x');
    const out = decodeResponse(body('success response')).payload;
    assert.equal(hex(UnsealSecretOutput.encode({ plaintext: enc('hello') })), hex(out));
    assert.equal(Buffer.from(UnsealSecretOutput.decode(out).plaintext).toString(), 'hello');
  });

  test('empty messages encode to zero bytes and decode from zero bytes', () => {
    assert.equal(UnsealSecretOutput.encode({ plaintext: new Uint8Array(0) }).length, 0);
    assert.equal(SecureMountResponse.encode({}).length, 0);
    assert.deepEqual(ImagePullResponse.decode(new Uint8Array(0)), { manifestDigest: '' });
    assert.deepEqual(GetResourceRequest.decode(new Uint8Array(0)), { resourcePath: '' });
  });

  test('UnsealSecretInput.secret is bytes: non-UTF-8 input decodes', () => {
    const secret = Uint8Array.from([0xff, 0xfe, 0x00]);
    assert.deepEqual(
      [...UnsealSecretInput.decode(UnsealSecretInput.encode({ secret })).secret],
      [0xff, 0xfe, 0],
    );
  });

  test('field names and numbers on the wire', () => {
    assert.equal(
      hex(GetResourceRequest.encode({ resourcePath: 'kbs:///a/b/c' })),
      `0a0c${hex(enc('kbs:///a/b/c'))}`,
    );
    assert.equal(hex(GetResourceResponse.encode({ resource: Uint8Array.from([1]) })), '0a0101');
    assert.equal(hex(GetTokenRequest.encode({ tokenType: 'kbs' })), '0a036b6273');
    assert.equal(hex(GetTokenResponse.encode({ token: enc('{}') })), '0a027b7d');
    assert.equal(
      hex(KeyProviderKeyWrapProtocolInput.encode({ keyProviderKeyWrapProtocolInput: enc('{}') })),
      '0a027b7d',
    );
    assert.equal(hex(ImagePullRequest.encode({ imageUrl: 'a', bundlePath: 'b' })), '0a01611201' + '62');
    assert.equal(hex(ImagePullResponse.encode({ manifestDigest: 'd' })), '0a0164');
  });

  test('invalid UTF-8 in a string field answers UNKNOWN "ttrpc err: …" (cdh.md §2.3)', () => {
    assert.throws(
      () => GetResourceRequest.decode(Buffer.from('0a02fffe', 'hex')),
      (e: unknown) =>
        e instanceof TtrpcStatusError && e.grpcCode === GrpcCode.UNKNOWN && /^ttrpc err: /.test(e.message),
    );
    assert.throws(() => UnsealSecretInput.decode(Buffer.from('0a05', 'hex')), TtrpcStatusError);
  });

  test('SecureMountRequest round-trips, including hostile map keys', () => {
    const m = {
      volumeType: 'BlockDevice',
      options: Object.assign(Object.create(null), { key: 'sealed.x', __proto__: 'p', '': 'empty' }),
      flags: ['ro', 'noexec'],
      mountPoint: '/mnt',
    };
    const d = SecureMountRequest.decode(SecureMountRequest.encode(m));
    assert.equal(Object.getPrototypeOf(d.options), null);
    assert.deepEqual({ ...d, options: { ...d.options } }, { ...m, options: { ...m.options } });
  });

  test('property: every codec round-trips', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.string(), (b, s) => {
        assert.deepEqual(
          [...UnsealSecretInput.decode(UnsealSecretInput.encode({ secret: b })).secret],
          [...b],
        );
        assert.deepEqual(
          [...GetResourceResponse.decode(GetResourceResponse.encode({ resource: b })).resource],
          [...b],
        );
        assert.equal(
          GetResourceRequest.decode(GetResourceRequest.encode({ resourcePath: s })).resourcePath,
          s,
        );
        const kp = KeyProviderKeyWrapProtocolOutput.encode({ keyProviderKeyWrapProtocolOutput: b });
        assert.deepEqual(
          [...KeyProviderKeyWrapProtocolOutput.decode(kp).keyProviderKeyWrapProtocolOutput],
          [...b],
        );
      }),
      { numRuns: 100 },
    );
  });

  test('service and method names are the upstream wire strings', () => {
    const names = Object.values({ ...CdhRpc, ...AttestationAgentRpc }).map((r) => `${r.service}/${r.method}`);
    assert.deepEqual(names.sort(), [
      'api.GetResourceService/GetResource',
      'api.ImagePullService/PullImage',
      'api.SealedSecretService/UnsealSecret',
      'api.SecureMountService/SecureMount',
      'attestation_agent.AttestationAgentService/GetToken',
      'keyprovider.KeyProviderService/UnWrapKey',
      'keyprovider.KeyProviderService/WrapKey',
    ]);
  });

  test('typed handlers and calls over a real socket', async () => {
    const tmp = tempSocketDir();
    const server = new TtrpcServer();
    registerRpc(server, CdhRpc.getResource, async ({ resourcePath }) => ({
      resource: enc(`got ${resourcePath}`),
    }));
    registerRpc(server, CdhRpc.wrapKey, async () => {
      throw new TtrpcStatusError(GrpcCode.NOT_FOUND, WRAP_KEY_NOT_SUPPORTED);
    });
    await server.listen(tmp.path());
    const client = await TtrpcClient.connect(tmp.path());
    try {
      const r = await callRpc(client, CdhRpc.getResource, { resourcePath: 'kbs:///default/key/1' });
      assert.equal(Buffer.from(r.resource).toString(), 'got kbs:///default/key/1');
      await assert.rejects(
        client.call(CdhRpc.getResource.service, CdhRpc.getResource.method, Buffer.from('0a02c328', 'hex')),
        (e: unknown) => e instanceof TtrpcStatusError && e.grpcCode === GrpcCode.UNKNOWN,
      );
      await assert.rejects(
        callRpc(client, CdhRpc.wrapKey, { keyProviderKeyWrapProtocolInput: enc('{}') }),
        (e: unknown) =>
          e instanceof TtrpcStatusError &&
          e.grpcCode === GrpcCode.NOT_FOUND &&
          e.message === WRAP_KEY_NOT_SUPPORTED,
      );
    } finally {
      client.close();
      await server.close();
      tmp.cleanup();
    }
  });
});
