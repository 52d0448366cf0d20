/*
 * Envelope key wrap / unwrap throughput per KMS provider, against a baseline measured in the same run:
 * plain AES-256 key wrap (RFC 3394) in process. Local providers only: pkcs11 on a SoftHSM2 token made
 * for the run, and the loopback mocks of AWS KMS, the Alibaba Cloud KMS instance and eHSM (the mock
 * servers run in this process, so their CPU is part of the cost; no network latency is modelled).
 *
 * Run: npx tsx bench/kms.bench.ts [seconds-per-case]   (needs softhsm2 and the openssl CLI)
 */
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aesKeyUnwrap, aesKeyWrap } from '../src/crypto/aes-kw.js';
import { DKMS_ADDRESS_ENV } from '../src/kms/aliyun/dkms-client.js';
import { aliyunProvider } from '../src/kms/aliyun/provider.js';
import { awsProvider } from '../src/kms/aws/provider.js';
import { ehsmProvider } from '../src/kms/ehsm/provider.js';
import { finalizeAllModules } from '../src/kms/pkcs11/library.js';
import { Pkcs11Provider, pkcs11Provider } from '../src/kms/pkcs11/provider.js';
import type { KmsProvider } from '../src/kms/provider.js';
import { startDkmsMock } from '../test/fixtures/kms/aliyun-mock.js';
import { startAwsMock } from '../test/fixtures/kms/aws-mock.js';
import { startEhsmMock } from '../test/fixtures/kms/ehsm-mock.js';
import { createTestPki, makePkcs12, opensslAvailable } from '../test/fixtures/kms/pki.js';
import { createSoftHsm, softhsmUtilAvailable } from '../test/fixtures/kms/softhsm.js';
import { softhsmModule } from '../test/helpers/components.js';

const SECONDS = Number(process.argv[2] ?? 1);

interface Case {
  name: string;
  wrap: () => Promise<unknown>;
  unwrap: () => Promise<unknown>;
}

async function rate(fn: () => Promise<unknown>, concurrency: number): Promise<number> {
  // Warm up (connections, sessions, logins), then count completed operations for SECONDS.
  for (let i = 0; i < 5; i++) await fn();
  const end = performance.now() + SECONDS * 1000;
  let done = 0;
  const worker = async () => {
    while (performance.now() < end) {
      await fn();
      done++;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return (done * 1000) / (performance.now() - start);
}

async function providerCase(name: string, p: KmsProvider, keyId: string): Promise<Case> {
  const dek = randomBytes(32);
  const wrapped = await p.wrapKey!(dek, keyId);
  return {
    name,
    wrap: () => p.wrapKey!(dek, keyId),
    unwrap: () => p.unwrapKey!(wrapped.encryptedKey, keyId, wrapped.annotations),
  };
}

async function main(): Promise<void> {
  const cleanups: Array<() => unknown> = [];
  const cases: Case[] = [];
  const kek = randomBytes(32);
  const dek = randomBytes(32);
  const kw = aesKeyWrap(kek, dek);
  cases.push({
    name: 'baseline: AES-256-KW in process',
    wrap: async () => aesKeyWrap(kek, dek),
    unwrap: async () => aesKeyUnwrap(kek, kw),
  });

  try {
    if (softhsmModule() && softhsmUtilAvailable()) {
      const hsm = createSoftHsm([{ label: 'bench', userPin: '1234', keys: [{ label: 'kek' }] }]);
      cleanups.push(
        () => hsm.cleanup(),
        () => finalizeAllModules(),
      );
      const settings = { module: hsm.module, token_label: 'bench', key_label: 'kek' };
      cases.push(
        await providerCase(
          'pkcs11 SoftHSM2 CKM_AES_KEY_WRAP_PAD',
          pkcs11Provider({ settings, credentialDir: hsm.credentialDir }),
          'kek',
        ),
      );
      cases.push(
        await providerCase(
          'pkcs11 SoftHSM2 CKM_AES_GCM',
          new Pkcs11Provider(settings, async () => '1234', 'CKM_AES_GCM'),
          'kek',
        ),
      );
    } else console.error('skipping pkcs11: SoftHSM2 not installed');

    if (opensslAvailable()) {
      const pki = createTestPki();
      const dir = mkdtempSync(join(tmpdir(), 'cocoseal-bench-'));
      cleanups.push(
        () => pki.cleanup(),
        () => rmSync(dir, { recursive: true, force: true }),
      );

      const aws = await startAwsMock(pki, new Map([['AKIDBENCH', { secretAccessKey: 'bench-secret' }]]));
      cleanups.push(() => aws.close());
      process.env.AWS_ENDPOINT_URL = aws.url;
      process.env.AWS_CA_BUNDLE = pki.caFile;
      const awsDir = join(dir, 'aws');
      mkdirSync(awsDir);
      writeFileSync(
        join(awsDir, 'credential.json'),
        JSON.stringify({ access_key_id: 'AKIDBENCH', secret_access_key: 'bench-secret' }),
      );
      cases.push(
        await providerCase(
          'aws (SDK → SigV4 mock, TLS)',
          awsProvider({ settings: { region: 'us-east-1' }, credentialDir: awsDir }),
          aws.createKey(),
        ),
      );

      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const dkms = await startDkmsMock(pki, 'kst-bench');
      cleanups.push(() => dkms.close());
      dkms.addClientKey('KAAP.bench', createPublicKey(privateKey));
      dkms.createKey('key-bench');
      process.env[DKMS_ADDRESS_ENV] = dkms.address;
      const aliDir = join(dir, 'aliyun');
      mkdirSync(aliDir);
      const p12 = makePkcs12(pki, privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), {
        password: 'pw',
        flavour: 'modern',
      });
      writeFileSync(
        join(aliDir, 'clientKey_KAAP.bench.json'),
        JSON.stringify({ KeyId: 'KAAP.bench', PrivateKeyData: p12.toString('base64') }),
      );
      writeFileSync(join(aliDir, 'password_KAAP.bench.json'), 'pw');
      copyFileSync(pki.caFile, join(aliDir, 'PrivateKmsCA_kst-bench.pem'));
      cases.push(
        await providerCase(
          'aliyun client_key (RSA-signed protobuf mock, TLS)',
          aliyunProvider({
            settings: {
              client_type: 'client_key',
              client_key_id: 'KAAP.bench',
              kms_instance_id: 'kst-bench',
            },
            credentialDir: aliDir,
          }),
          'key-bench',
        ),
      );

      const ehsm = await startEhsmMock(pki);
      cleanups.push(() => ehsm.close());
      ehsm.enroll('bench-app', 'bench-key');
      const ehsmDir = join(dir, 'ehsm');
      mkdirSync(ehsmDir);
      writeFileSync(
        join(ehsmDir, 'credential_bench-app.json'),
        JSON.stringify({ AppId: 'bench-app', ApiKey: 'bench-key' }),
      );
      copyFileSync(pki.caFile, join(ehsmDir, 'ca_bench-app.pem'));
      cases.push(
        await providerCase(
          'ehsm (HMAC-signed REST mock, TLS)',
          ehsmProvider({ settings: { app_id: 'bench-app', endpoint: ehsm.url }, credentialDir: ehsmDir }),
          ehsm.createKey(),
        ),
      );
    } else console.error('skipping the cloud mocks: openssl CLI not installed');

    const rows: string[][] = [];
    let base: { wrap: number; unwrap: number } | undefined;
    for (const c of cases) {
      for (const concurrency of c.name.startsWith('baseline') ? [1] : [1, 8]) {
        const wrap = await rate(c.wrap, concurrency);
        const unwrap = await rate(c.unwrap, concurrency);
        base ??= { wrap, unwrap };
        rows.push([
          `${c.name}${concurrency > 1 ? ` ×${concurrency} concurrent` : ''}`,
          wrap.toFixed(0),
          unwrap.toFixed(0),
          `${(base.wrap / wrap).toFixed(1)}×`,
          `${(base.unwrap / unwrap).toFixed(1)}×`,
        ]);
      }
    }
    const header = ['case', 'wrap/s', 'unwrap/s', 'wrap cost vs baseline', 'unwrap cost vs baseline'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: string[]) =>
      r.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ');
    console.log(`KMS envelope wrap/unwrap, ${SECONDS}s per measurement, node ${process.version}`);
    console.log(line(header));
    for (const r of rows) console.log(line(r));
  } finally {
    for (const c of cleanups.reverse()) await c();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
