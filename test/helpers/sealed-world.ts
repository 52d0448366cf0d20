import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { KbsAdminClient } from '../../src/kbs-client/admin.js';
import { NAMED_RESOURCE_POLICIES } from '../../src/kbs-client/policies.js';
import { type KbsProcess, startInitializedKbs } from './kbs-process.js';
import { runBin } from './run-bin.js';

/** The signing kid every secret of the world is sealed with (its public key lives in the KBS). */
export const WORLD_SIGNING_KID = 'kbs:///default/signing-key/op';
export const WORLD_VAULT_VALUE = 'correct horse';
export const WORLD_ENVELOPE_VALUE = 'tok_123';

export interface SealedWorld {
  kbs: KbsProcess;
  admin: KbsAdminClient;
  /** A vault secret (sealed and uploaded in one step) and a `kbs`-provider envelope secret. */
  sealed: { vault: string; envelope: string };
  /** A `cdh.toml` for a daemon on `socket` that attests to this KBS with the sample TEE. */
  cdhConfig: string;
  socket: string;
  /** `secret seal --signing-kid KID --signing-jwk-path <op key> …ARGS`; returns the sealed string. */
  seal(args: string[], kid?: string): Promise<string>;
}

/**
 * A KBS (allow-all resource policy, as the sample TEE needs), an operator key registered in it, the
 * two kinds of sealed secret, and a CDH config pointing at the KBS: what the CDH end-to-end test
 * and the CDH benchmark both start from. Everything lives under `dir`.
 */
export async function setUpSealedWorld(dir: string): Promise<SealedWorld> {
  const f = (n: string) => join(dir, n);
  mkdirSync(f('kbs'));
  const kbs = await startInitializedKbs(f('kbs'));
  const admin = new KbsAdminClient({
    url: kbs.url,
    extraRootCertsPem: kbs.certPem,
    adminToken: kbs.adminToken,
  });
  await admin.setResourcePolicy(NAMED_RESOURCE_POLICIES['allow-all']);
  const keygen = await runBin('secret', ['keygen', '--kid', 'op', '--output-dir', dir]);
  if (keygen.code !== 0) throw new Error(`secret keygen: ${keygen.stderr}`);
  await admin.setResource('default/signing-key/op', readFileSync(f('op-public.json')));
  const kek = randomBytes(32);
  writeFileSync(f('kek'), kek);
  await admin.setResource('default/kek/app', kek);
  writeFileSync(f('password.txt'), WORLD_VAULT_VALUE);
  writeFileSync(f('token.txt'), WORLD_ENVELOPE_VALUE);
  const seal = async (args: string[], kid = WORLD_SIGNING_KID) => {
    const r = await runBin('secret', [
      'seal',
      '--signing-kid',
      kid,
      '--signing-jwk-path',
      f('op-private.json'),
      ...args,
    ]);
    if (r.code !== 0) throw new Error(`secret seal: ${r.stderr}`);
    return r.stdout.trim().split('\n').at(-1)!;
  };
  const vault = await seal([
    'vault',
    '-r',
    'kbs:///default/app/password',
    '-p',
    'kbs',
    '--upload-from',
    f('password.txt'),
    '--kbs-url',
    kbs.url,
    '--admin-token-file',
    f('kbs/admin-token'),
    '--cert-file',
    f('kbs/tls.crt'),
  ]);
  const envelope = await seal([
    'envelope',
    '-k',
    'kbs:///default/kek/app',
    '-f',
    f('token.txt'),
    'kbs',
    '--kek-file',
    f('kek'),
  ]);
  const socket = f('cdh.sock');
  const cdhConfig = f('cdh.toml');
  writeFileSync(
    cdhConfig,
    `socket = "unix://${socket}"
base_dir = "${f('cdh-base')}"
[kbc]
name = "cc_kbc"
url = "${kbs.url}"
kbs_cert = """
${kbs.certPem}"""
[attester]
type = "sample"
`,
  );
  return { kbs, admin, sealed: { vault, envelope }, cdhConfig, socket, seal };
}
