import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { KbsAdminClient } from '../src/kbs-client/admin.js';
import { NAMED_RESOURCE_POLICIES } from '../src/kbs-client/policies.js';
import { publishSecret } from './helpers/atomic-writer.js';
import { needs, skipUnless } from './helpers/components.js';
import { type Daemon, startDaemon } from './helpers/daemon.js';
import { buildGoTtrpcClient, runGoTtrpcClient } from './helpers/go-ttrpc-client.js';
import { startHttpProxy } from './helpers/http-proxy.js';
import { attestationCount, type KbsProcess } from './helpers/kbs-process.js';
import { binDir } from './helpers/paths.js';
import { runBin } from './helpers/run-bin.js';
import { type SealedWorld, setUpSealedWorld } from './helpers/sealed-world.js';

/*
 * The whole guest path against the real `kbs` (sample TEE): sealed with `secret`, provisioned through
 * the admin API, unsealed by the `cdh` daemon over its socket (our client and the Go client) and by
 * `cdh exec`/`cdh watch`, with the failure reasons users see.
 */

const dir = mkdtempSync(join(tmpdir(), 'cdh-e2e-'));
const f = (n: string) => join(dir, n);
const socket = f('cdh.sock'); // where setUpSealedWorld's cdh.toml listens
let world: SealedWorld;
let kbs: KbsProcess;
let cdh: Daemon;
let admin: KbsAdminClient;
const sealed: Record<string, string> = {};

const allowAll = () => admin.setResourcePolicy(NAMED_RESOURCE_POLICIES['allow-all']);

before(async () => {
  world = await setUpSealedWorld(dir);
  ({ kbs, admin } = world);
  Object.assign(sealed, world.sealed);
  sealed.missing = await world.seal(['vault', '-r', 'kbs:///default/app/missing', '-p', 'kbs']);
  sealed.unknownKid = await world.seal(
    ['vault', '-r', 'kbs:///default/app/password', '-p', 'kbs'],
    'kbs:///default/signing-key/nobody',
  );
  sealed.tampered = `${sealed.vault.slice(0, 60)}${sealed.vault[60] === 'A' ? 'B' : 'A'}${sealed.vault.slice(61)}`;
  cdh = await startDaemon('cdh', ['-c', world.cdhConfig], { readyLine: /^cdh listening on / });
});

after(async () => {
  await cdh?.stop();
  await kbs?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const unseal = (name: string, text: string) => {
  writeFileSync(f(name), text);
  return runBin('cdh', ['--socket', `unix://${socket}`, 'unseal-secret', '--secret-path', f(name)]);
};

describe('cdh with a real KBS', () => {
  test('vault (kid fetched from the KBS) and envelope (KEK from the KBS) unseal through the socket', async () => {
    const v = await unseal('v', sealed.vault);
    assert.equal(v.stdout, 'correct horse', v.stderr);
    const e = await unseal('e', sealed.envelope);
    assert.equal(e.stdout, 'tok_123', e.stderr);
  });

  test('the Go ttrpc client unseals the same secrets', { skip: skipUnless(needs.goTtrpc) }, async () => {
    const go = await buildGoTtrpcClient();
    writeFileSync(f('go-v'), sealed.vault);
    const r = await runGoTtrpcClient(go, ['-socket', socket, 'unseal-secret', f('go-v')]);
    assert.equal(Buffer.from(r.stdout.trim(), 'base64').toString(), 'correct horse', r.stderr);
  });

  test('100 unseals cost at most one attestation at the KBS', async () => {
    const before = attestationCount(await kbs.metrics());
    const { SocketUnsealer } = await import('../src/cdh/socket-unsealer.js');
    const client = new SocketUnsealer(socket);
    try {
      for (let i = 0; i < 100; i++) {
        assert.equal(
          Buffer.from(await client.unseal(Buffer.from(i % 2 ? sealed.vault : sealed.envelope))).toString(),
          i % 2 ? 'correct horse' : 'tok_123',
        );
      }
    } finally {
      await client.close();
    }
    const total = attestationCount(await kbs.metrics());
    assert.ok(total <= 1, `attestations so far: ${total}`);
    assert.ok(total - before <= 1);
  });

  test('reason codes from real failures: tampered, unknown kid, missing resource, policy deny', async () => {
    assert.match((await unseal('t', sealed.tampered)).stderr, /SIGNATURE_INVALID|BAD_FORMAT/);
    assert.match((await unseal('k', sealed.unknownKid)).stderr, /KID_UNKNOWN/);
    assert.match((await unseal('m', sealed.missing)).stderr, /RESOURCE_NOT_FOUND/);
    await admin.setResourcePolicy(NAMED_RESOURCE_POLICIES['deny-all']);
    try {
      const d = await unseal('d', sealed.vault);
      assert.equal(d.code, 1);
      assert.match(d.stderr, /POLICY_DENIED/);
      assert.doesNotMatch(d.stderr, /correct horse/);
    } finally {
      await allowAll();
    }
  });

  test('KBS stopped → KBS_UNREACHABLE; after a restart the CDH recovers', async () => {
    await kbs.stop();
    const down = await unseal('down', sealed.vault);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /KBS_UNREACHABLE/);
    await kbs.restart();
    const up = await unseal('up', sealed.vault);
    assert.equal(up.stdout, 'correct horse', up.stderr);
  });

  test('a daemon whose environment names a proxy reaches the KBS through a CONNECT tunnel', async () => {
    const proxy = await startHttpProxy();
    const sock2 = f('cdh-proxied.sock');
    const cfg2 = f('cdh-proxied.toml');
    writeFileSync(cfg2, readFileSync(world.cdhConfig, 'utf8').replace(`unix://${socket}`, `unix://${sock2}`));
    const proxied = await startDaemon('cdh', ['-c', cfg2], {
      readyLine: /^cdh listening on /,
      env: { HTTPS_PROXY: proxy.url, NO_PROXY: 'example.org' },
    });
    try {
      writeFileSync(f('pv'), sealed.vault);
      const r = await runBin('cdh', [
        '--socket',
        `unix://${sock2}`,
        'unseal-secret',
        '--secret-path',
        f('pv'),
      ]);
      assert.equal(r.stdout, 'correct horse', r.stderr);
      assert.ok(proxy.seen.connects.length >= 1);
      assert.ok(
        proxy.seen.connects.every((c) => c === `127.0.0.1:${kbs.port}`),
        proxy.seen.connects.join(),
      );
    } finally {
      await proxied.stop();
      await proxy.close();
    }
  });

  test('cdh exec: env values and kubelet-laid files reach the workload', async () => {
    const vol = f('volume');
    publishSecret(vol, { password: sealed.vault, 'api-token': `${sealed.envelope}\n` });
    const script = `const fs=require('fs');process.stdout.write([process.env.DB, fs.readFileSync(${JSON.stringify(join(vol, 'password'))},'utf8'), fs.readFileSync(${JSON.stringify(join(vol, 'api-token'))},'utf8')].join('|'))`;
    const r = await runBin(
      'cdh',
      ['--socket', `unix://${socket}`, 'exec', '--dir', vol, '--', process.execPath, '-e', script],
      { env: { DB: sealed.envelope } },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'tok_123|correct horse|tok_123');
  });

  test('cdh watch picks up a Secret update', async () => {
    const vol = f('watched');
    publishSecret(vol, { password: sealed.vault });
    const watcher = spawn(
      process.execPath,
      [join(binDir, 'cdh'), '--socket', `unix://${socket}`, 'watch', '--dir', vol],
      { stdio: 'ignore' },
    );
    const read = () => {
      try {
        return readFileSync(join(vol, 'password'), 'utf8');
      } catch {
        return '';
      }
    };
    const until = async (want: string) => {
      for (let i = 0; i < 300 && read() !== want; i++) await new Promise((r) => setTimeout(r, 100));
      assert.equal(read(), want);
    };
    try {
      await until('correct horse');
    } catch (e) {
      watcher.kill('SIGTERM');
      throw e;
    }
    await admin.setResource('default/app/rotated', Buffer.from('new horse'));
    publishSecret(vol, {
      password: await world.seal(['vault', '-r', 'kbs:///default/app/rotated', '-p', 'kbs']),
    });
    try {
      await until('new horse');
    } finally {
      watcher.kill('SIGTERM');
    }
  });

  test('secret unseal --aa-kbc-params cc_kbc::URL attests and unseals outside a guest', async () => {
    writeFileSync(f('cli.sealed'), sealed.envelope);
    const r = await runBin('secret', [
      'unseal',
      '-f',
      f('cli.sealed'),
      '-a',
      `cc_kbc::${kbs.url}`,
      '--cert-file',
      f('kbs/tls.crt'),
      '--output',
      '-',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'tok_123');
  });
});
