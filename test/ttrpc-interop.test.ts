import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { registerRpc } from '../src/cdh/api/rpc.js';
import { CdhRpc, WRAP_KEY_NOT_SUPPORTED } from '../src/cdh/api/services.js';
import { TtrpcStatusError } from '../src/ttrpc/errors.js';
import { MAX_MESSAGE_LENGTH } from '../src/ttrpc/frame.js';
import type { TtrpcCallContext } from '../src/ttrpc/handler.js';
import { TtrpcServer } from '../src/ttrpc/server.js';
import { GrpcCode } from '../src/ttrpc/status.js';
import { tempSocketDir } from '../src/ttrpc/testing.js';
import { needs, skipUnless } from './helpers/components.js';
import { buildGoTtrpcClient, runGoTtrpcClient } from './helpers/go-ttrpc-client.js';

/*
 * Our ttRPC server against containerd's Go ttrpc client (test/fixtures/ttrpc-go): an independent
 * implementation of framing, envelope encoding, metadata, deadlines and status propagation.
 */

const b64 = (s: string | Uint8Array) => Buffer.from(s).toString('base64');

describe('ttRPC interop with the containerd Go client', { skip: skipUnless(needs.goTtrpc) }, () => {
  const tmp = tempSocketDir();
  const socket = tmp.path();
  const server = new TtrpcServer();
  let bin = '';
  let lastCtx: TtrpcCallContext | undefined;
  const go = (...args: string[]) => runGoTtrpcClient(bin, ['-socket', socket, ...args]);
  const file = (name: string, content: string | Uint8Array) => {
    const p = join(tmp.dir, name);
    writeFileSync(p, content);
    return p;
  };

  // Echo-based fakes of the CDH methods: the "plaintext" is derived from the input so a mix-up shows.
  registerRpc(server, CdhRpc.unsealSecret, async ({ secret }, ctx) => {
    lastCtx = ctx;
    const s = Buffer.from(secret).toString('utf8');
    if (s === 'sealed.fail')
      throw new TtrpcStatusError(GrpcCode.INTERNAL, '[CDH] [ERROR]: Unseal Secret failed');
    if (s === 'sealed.crash') throw new Error('decrypt failed for key material 0xDEADBEEF');
    if (s === 'sealed.empty') return { plaintext: new Uint8Array(0) };
    if (s === 'sealed.hang') {
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      throw ctx.signal.reason;
    }
    return { plaintext: Buffer.from(`plain:${s}`) };
  });
  registerRpc(server, CdhRpc.getResource, async ({ resourcePath }) => {
    if (resourcePath === 'kbs:///default/key/missing') {
      throw new TtrpcStatusError(GrpcCode.INTERNAL, '[CDH] [ERROR]: Get Resource failed');
    }
    if (resourcePath.startsWith('kbs:///big/')) {
      return { resource: new Uint8Array(Number(resourcePath.slice('kbs:///big/'.length))).fill(0x61) };
    }
    return { resource: Buffer.concat([Buffer.from([0, 1, 2, 255]), Buffer.from(resourcePath)]) };
  });
  registerRpc(server, CdhRpc.unwrapKey, async ({ keyProviderKeyWrapProtocolInput }) => ({
    keyProviderKeyWrapProtocolOutput: Buffer.from(
      `{"echo":${Buffer.from(keyProviderKeyWrapProtocolInput).length}}`,
    ),
  }));
  registerRpc(server, CdhRpc.wrapKey, async () => {
    throw new TtrpcStatusError(GrpcCode.NOT_FOUND, WRAP_KEY_NOT_SUPPORTED);
  });

  before(async () => {
    bin = await buildGoTtrpcClient();
    await server.listen(socket);
  });
  after(async () => {
    await server.close();
    tmp.cleanup();
  });

  test('UnsealSecret: plaintext bytes reach Go exactly', async () => {
    const r = await go('unseal-secret', file('secret', 'sealed.abc.def.ghi'));
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout.trim(), b64('plain:sealed.abc.def.ghi'));
  });

  test('UnsealSecret: an empty plaintext (payload field left out) decodes in Go', async () => {
    const r = await go('unseal-secret', file('empty', 'sealed.empty'));
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout, '\n');
  });

  test('GetResource: binary resource bytes', async () => {
    const r = await go('get-resource', 'kbs:///default/key/1');
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(
      r.stdout.trim(),
      b64(Buffer.concat([Buffer.from([0, 1, 2, 255]), Buffer.from('kbs:///default/key/1')])),
    );
  });

  test('a status from the handler reaches Go with its code and message', async () => {
    const u = await go('unseal-secret', file('fail', 'sealed.fail'));
    assert.equal(u.exitCode, 1);
    assert.deepEqual(u.status, { code: 13, message: '[CDH] [ERROR]: Unseal Secret failed' });
    const g = await go('get-resource', 'kbs:///default/key/missing');
    assert.deepEqual(g.status, { code: 13, message: '[CDH] [ERROR]: Get Resource failed' });
    const w = await go('raw', 'keyprovider.KeyProviderService', 'WrapKey', '');
    assert.deepEqual(w.status, { code: GrpcCode.NOT_FOUND, message: WRAP_KEY_NOT_SUPPORTED });
  });

  test('an unexpected handler error is INTERNAL with a generic message (nothing leaks)', async () => {
    const r = await go('unseal-secret', file('crash', 'sealed.crash'));
    assert.deepEqual(r.status, { code: 13, message: 'internal error' });
    assert.doesNotMatch(r.stderr, /DEADBEEF/);
  });

  test('unknown method → UNIMPLEMENTED, unknown service → INVALID_ARGUMENT (ttrpc-rust conventions)', async () => {
    const m = await go('raw', 'api.SealedSecretService', 'NoSuchMethod', '');
    assert.deepEqual(m.status, { code: GrpcCode.UNIMPLEMENTED, message: 'NoSuchMethod method' });
    const s = await go('raw', 'api.NoSuchService', 'X', '');
    assert.deepEqual(s.status, {
      code: GrpcCode.INVALID_ARGUMENT,
      message: 'api.NoSuchService service does not exist',
    });
  });

  test('an undecodable method input → UNKNOWN "ttrpc err: …"', async () => {
    // GetResourceRequest.ResourcePath with invalid UTF-8.
    const r = await go('raw', 'api.GetResourceService', 'GetResource', '0a02c328');
    assert.equal(r.status?.code, GrpcCode.UNKNOWN);
    assert.match(r.status!.message, /^ttrpc err: /);
  });

  test('raw: hex payload in, hex payload out; UnWrapKey JSON bytes', async () => {
    const r = await go(
      'raw',
      'api.GetResourceService',
      'GetResource',
      Buffer.from('0a01', 'hex').toString('hex') + '78',
    );
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(r.stdout.trim(), `0a05${'000102ff78'}`);
    const k = await go('unwrap-key', file('kp.json', '{"op":"keyunwrap"}'));
    assert.equal(Buffer.from(k.stdout.trim(), 'base64').toString(), '{"echo":18}');
  });

  test('metadata and the Go context deadline arrive as metadata and timeout_nano', async () => {
    const r = await go(
      '-md',
      'a=1',
      '-md',
      'a=2',
      '-md',
      'x-trace=t',
      '-timeout',
      '20s',
      'unseal-secret',
      file('m', 'sealed.m'),
    );
    assert.equal(r.exitCode, 0, r.stderr);
    assert.deepEqual(lastCtx!.metadata.get('a'), ['1', '2']);
    assert.deepEqual(lastCtx!.metadata.get('x-trace'), ['t']);
    const left = lastCtx!.deadline! - Date.now();
    assert.ok(left > 10_000 && left <= 20_000, `deadline ${left} ms away`);
  });

  test('server-side timeout_nano expiry → DEADLINE_EXCEEDED "timeout" in Go', async () => {
    const r = await go('-server-timeout', '100ms', 'unseal-secret', file('hang', 'sealed.hang'));
    assert.deepEqual(r.status, { code: GrpcCode.DEADLINE_EXCEEDED, message: 'timeout' });
  });

  test('concurrent calls multiplexed on one Go connection', async () => {
    const r = await go('-concurrency', '16', 'get-resource', 'kbs:///default/key/concurrent');
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(
      Buffer.from(r.stdout.trim(), 'base64').subarray(4).toString(),
      'kbs:///default/key/concurrent',
    );
  });

  test('size limit: a response just under 4 MiB arrives; over the limit is INVALID_ARGUMENT', async () => {
    const fits = MAX_MESSAGE_LENGTH - 64;
    const ok = await go('get-resource', `kbs:///big/${fits}`);
    assert.equal(ok.exitCode, 0, ok.stderr);
    assert.equal(Buffer.from(ok.stdout.trim(), 'base64').length, fits);
    const big = await go('get-resource', `kbs:///big/${MAX_MESSAGE_LENGTH}`);
    assert.equal(big.status?.code, GrpcCode.INVALID_ARGUMENT);
    assert.match(big.status!.message, /^message length \d+ exceed maximum message size of 4194304$/);
  });

  test('an oversized request from Go (which does not check) is discarded and answered INVALID_ARGUMENT', async () => {
    const payload = file('big.bin', new Uint8Array(MAX_MESSAGE_LENGTH + 1));
    const r = await go('raw', 'api.SealedSecretService', 'UnsealSecret', `@${payload}`);
    assert.equal(r.status?.code, GrpcCode.INVALID_ARGUMENT);
    assert.match(r.status!.message, /^message length \d+ exceed maximum message size of 4194304$/);
  });

  test('the Go client reports a missing server as a local error (exit 2)', async () => {
    const r = await runGoTtrpcClient(bin, ['-socket', join(tmp.dir, 'nobody.sock'), 'get-resource', 'x']);
    assert.equal(r.exitCode, 2);
    assert.match(r.stderr, /^error: /);
  });
});
