import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { registerCcKbcClient } from '../kbs-client/cc-kbc.js';
import type { JsonObject } from '../kms/provider.js';
import { envelopeSealCommands } from './envelope/index.js';
import { jsonObjectOption, prepareProgram, runProgram, UsageError } from './run.js';
import { inspectSealed, renderInspect } from './secret/inspect.js';
import { keygen } from './secret/keygen.js';
import {
  checkManifestOptions,
  envelopePayload,
  type ManifestOptions,
  renderSealed,
  VAULT_WARNING,
  vaultPayload,
} from './secret/seal.js';
import { loadSigningKey } from './secret/signing-key.js';
import { unsealFile, writeUnsealed } from './secret/unseal.js';
import { uploadVaultResource } from './secret/upload.js';

/*
 * `secret`: the operator CLI, flag-compatible with upstream's `secret` tool (sealed-secret.md §9),
 * plus `inspect`, Kubernetes manifests, `kbs` envelopes and seal-and-upload.
 */

interface SealOpts extends ManifestOptions {
  signingKid: string;
  signingJwkPath: string;
}

const KEY_DIR_HELP =
  'local verification-key directory (default /run/confidential-containers/cdh/sealed-secret, env COCOSEAL_SEALED_SECRET_KEY_DIR)';

function keyDir(opt: string | undefined): string | undefined {
  return opt ?? process.env.COCOSEAL_SEALED_SECRET_KEY_DIR;
}

function buildProgram(): Command {
  const program = prepareProgram(new Command('secret'))
    .description('Create, inspect and unseal Confidential Containers sealed secrets')
    .version('0.1.0');

  const seal = program
    .command('seal')
    .description('sign a vault or envelope sealed secret')
    .requiredOption(
      '--signing-kid <KID>',
      'kid written into the JWS header (a KBS URI or a local key file name)',
    )
    .requiredOption('--signing-jwk-path <FILE>', 'private P-256 JWK used to sign')
    .option('--k8s-secret <NAME>', 'print a Kubernetes v1 Secret manifest holding the sealed value instead')
    .option('--k8s-key <KEY>', 'data key inside the Secret (default "secret")')
    .option('--namespace <NS>', 'metadata.namespace of the Secret')
    .addOption(new Option('-o, --output <FORMAT>', 'manifest format').choices(['yaml', 'json']));

  const vault = seal
    .command('vault')
    .description('a secret that the guest fetches from a provider (kbs, aliyun, aws)')
    .requiredOption('-r, --resource-uri <STR>', 'resource URI (kbs) or secret name (aliyun, aws)')
    .requiredOption('-p, --provider <STR>', 'provider: kbs | aliyun | aws')
    .option('--provider-settings <JSON>', 'provider settings (JSON object)', '{}')
    .option('-a, --annotations <JSON>', 'annotations (JSON object)', '{}')
    .option(
      '--upload-from <FILE>',
      'also upload FILE to the KBS at --resource-uri (needs --kbs-url and --admin-token-file)',
    )
    .option('--kbs-url <URL>', 'KBS base URL for --upload-from')
    .option('--admin-token-file <FILE>', 'KBS admin token for --upload-from')
    .option('--cert-file <FILE>', 'extra trusted root certificate (PEM) for the KBS');
  vault.action(async (o: Record<string, string | undefined>) => {
    const s = seal.opts<SealOpts>();
    checkManifestOptions(s);
    const settings = jsonObjectOption('--provider-settings', o.providerSettings ?? '{}') as JsonObject;
    const annotations = jsonObjectOption('--annotations', o.annotations ?? '{}') as JsonObject;
    const upload = o.uploadFrom !== undefined;
    if (upload && (!o.kbsUrl || !o.adminTokenFile))
      throw new UsageError('--upload-from needs --kbs-url and --admin-token-file');
    if (!upload && s.k8sSecret === undefined) process.stdout.write(`${VAULT_WARNING}\n`);
    const key = await loadSigningKey(s.signingJwkPath);
    const out = renderSealed(
      vaultPayload(o.resourceUri!, o.provider!, settings, annotations),
      key,
      s.signingKid,
      s,
    );
    if (upload) {
      await uploadVaultResource({
        resourceUri: o.resourceUri!,
        provider: o.provider!,
        from: o.uploadFrom!,
        kbsUrl: o.kbsUrl!,
        adminTokenFile: o.adminTokenFile!,
        certFile: o.certFile,
      });
      process.stderr.write(`uploaded ${o.uploadFrom} to ${o.resourceUri}\n`);
    }
    process.stdout.write(out);
  });

  const envelope = seal
    .command('envelope')
    .description('a secret carried encrypted (AES-256-GCM) under a data key that a KMS wraps')
    .requiredOption('-k, --key-id <ID>', 'KMS key id')
    .requiredOption('-f, --file-path <FILE>', 'plaintext file (raw bytes)');
  for (const pc of envelopeSealCommands) {
    const sub = envelope.command(pc.name).description(pc.description);
    pc.configure(sub);
    sub.action(async (popts: Record<string, unknown>) => {
      const s = seal.opts<SealOpts>();
      checkManifestOptions(s);
      const e = envelope.opts<{ keyId: string; filePath: string }>();
      const key = await loadSigningKey(s.signingJwkPath);
      const payload = await envelopePayload(pc, popts, e.keyId, e.filePath);
      process.stdout.write(renderSealed(payload, key, s.signingKid, s));
    });
  }

  program
    .command('unseal')
    .description('verify and unseal a sealed secret into <file>.unsealed')
    .requiredOption('-f, --file-path <FILE>', 'file holding the sealed string')
    .option('-k, --key-path <DIR>', 'credential directory for aliyun / aws / ehsm / pkcs11')
    .option(
      '-a, --aa-kbc-params <KBC::URL>',
      'KBS access for provider kbs: offline_fs_kbc::null or cc_kbc::https://kbs:8080',
    )
    .option('-s, --skip-verification', 'accept unsigned (legacy) sealed secrets; never use in production')
    .option('--output <PATH>', 'write the plaintext here instead; "-" for stdout')
    .option('--verification-key-dir <DIR>', KEY_DIR_HELP)
    .option('--cert-file <FILE>', 'extra trusted root certificate (PEM) for cc_kbc')
    .action(async (o: Record<string, string | boolean | undefined>) => {
      if (o.skipVerification)
        process.stderr.write('WARNING: signature verification is skipped (--skip-verification)\n');
      const plaintext = await unsealFile({
        filePath: o.filePath as string,
        keyPath: o.keyPath as string | undefined,
        aaKbcParams: o.aaKbcParams as string | undefined,
        skipVerification: Boolean(o.skipVerification),
        keyDir: keyDir(o.verificationKeyDir as string | undefined),
        certFile: o.certFile as string | undefined,
        warn: (m) => process.stderr.write(`${m}\n`),
      });
      if (o.output === '-') {
        process.stdout.write(plaintext);
        return;
      }
      const target = (o.output as string | undefined) ?? `${o.filePath}.unsealed`;
      await writeUnsealed(target, plaintext);
      process.stdout.write(
        `unseal success, secret is saved in newly generated file: '${JSON.stringify(target)}'\n`,
      );
    });

  program
    .command('keygen')
    .description('generate a P-256 signing key pair')
    .option('--kid <KID>', 'key id, also the file name prefix', 'sealed-signing')
    .option('--output-dir <DIR>', 'directory for the two files', '.')
    .action(async (o: { kid: string; outputDir: string }) => {
      const r = await keygen(o.kid, o.outputDir);
      process.stdout.write(`Generated ${r.privatePath} and ${r.publicPath}\n`);
    });

  program
    .command('inspect')
    .description('decode a sealed secret and check its signature')
    .argument('<FILE>', 'file holding the sealed string, or - for stdin')
    .option(
      '--verify-key <JWK_FILE>',
      'public JWK to verify with (default: the kid in the local key directory)',
    )
    .option('--skip-verification', 'decode only (also accepts the legacy unsigned form)')
    .addOption(new Option('--output <FORMAT>', 'output format').choices(['text', 'json']).default('text'))
    .option('--verification-key-dir <DIR>', KEY_DIR_HELP)
    .action(
      async (
        file: string,
        o: {
          verifyKey?: string;
          skipVerification?: boolean;
          output: 'text' | 'json';
          verificationKeyDir?: string;
        },
      ) => {
        const raw =
          file === '-'
            ? await readStdin()
            : await readFile(file).catch(() => {
                throw new UsageError(`cannot read ${file}`);
              });
        const report = await inspectSealed(raw.toString('utf8').trim(), {
          verifyKey: o.verifyKey,
          skipVerification: o.skipVerification,
          keyDir: keyDir(o.verificationKeyDir),
        });
        process.stdout.write(renderInspect(report, o.output));
        const ok =
          report.signature.status === 'valid' ||
          (o.skipVerification && report.signature.status === 'unchecked');
        if (!ok) process.exitCode = 1;
      },
    );

  return program;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function main(argv: string[]): Promise<void> {
  registerCcKbcClient();
  await runProgram(buildProgram(), argv);
}
