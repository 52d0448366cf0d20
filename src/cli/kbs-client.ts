import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { encodeStd } from '../crypto/base64.js';
import { KbsAdminClient } from '../kbs-client/admin.js';
import { mintAdminToken, parseTtl } from '../kbs-client/admin-token.js';
import { KbsClient } from '../kbs-client/client.js';
import { KbsClientError } from '../kbs-client/errors.js';
import { NAMED_RESOURCE_POLICIES, type NamedResourcePolicy } from '../kbs-client/policies.js';
import { TEE_KEY_ALGORITHMS, type TeeKeyAlgorithm, TeeKeyPair } from '../kbs-client/tee-key.js';
import { AttestationToken } from '../kbs-client/token.js';
import { StaticTokenSource } from '../kbs-client/token-source.js';
import { prepareProgram, runProgram, UsageError } from './run.js';

/*
 * `kbs-client`: upstream's surface (kbs-protocol.md §13) — global `--url`/`--cert-file` before the
 * subcommand, `attest`, `get-resource`, `config …` — plus `admin-token`, `policy check` and
 * `audit list|verify`. Deviations: `config set-resource` prints a digest, not the secret in base64;
 * `--default` installs the real default policy (upstream installs deny-all).
 */

interface GlobalOpts {
  url: string;
  certFile?: string;
  timeout?: string;
}

async function readInput(path: string, flag: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new KbsClientError('INVALID_ARGUMENT', `cannot read ${flag} ${path} (${why})`, { cause: e });
  }
}

async function connection(
  program: Command,
): Promise<{ url: string; extraRootCertsPem?: string; timeoutMs?: number }> {
  const g = program.opts<GlobalOpts>();
  const extraRootCertsPem = g.certFile
    ? (await readInput(g.certFile, '--cert-file')).toString('utf8')
    : undefined;
  let timeoutMs: number | undefined;
  if (g.timeout !== undefined) {
    const s = Number(g.timeout);
    if (!Number.isFinite(s) || s <= 0) throw new UsageError('--timeout must be a positive number of seconds');
    timeoutMs = s * 1000;
  }
  return { url: g.url, extraRootCertsPem, timeoutMs };
}

async function teeKeyFrom(file: string | undefined): Promise<TeeKeyPair | undefined> {
  return file === undefined ? undefined : TeeKeyPair.fromPem(await readInput(file, '--tee-key-file'));
}

async function initDataFrom(file: string | undefined): Promise<string | undefined> {
  return file === undefined ? undefined : (await readInput(file, 'INIT_DATA')).toString('utf8');
}

/** Admin token: the flag, else upstream's docker-compose path, else `~/.trustee/admin-token`, else none. */
async function adminToken(file: string | undefined): Promise<string | undefined> {
  if (file !== undefined) return (await readInput(file, '--admin-token-file')).toString('utf8').trim();
  for (const p of [
    join('kbs', 'config', 'docker-compose', 'admin-token'),
    join(homedir(), '.trustee', 'admin-token'),
  ]) {
    try {
      return (await readFile(p, 'utf8')).trim();
    } catch {
      // Not there: try the next source.
    }
  }
  return undefined;
}

function print(line: string): void {
  process.stdout.write(`${line}\n`);
}

function printJson(v: unknown): void {
  print(JSON.stringify(v));
}

function buildProgram(): Command {
  const program = prepareProgram(new Command('kbs-client'))
    .description('Attest to a Key Broker Service, fetch resources, and administer it')
    .version('0.1.0')
    .option('--url <URL>', 'KBS base URL', 'http://127.0.0.1:8080')
    .option('--cert-file <PEM>', 'extra trusted root certificate for HTTPS (PEM)')
    .option('--timeout <SECONDS>', 'per-request timeout (default 60)');

  const keyAlgorithm = new Option('--tee-key-algorithm <ALG>', 'algorithm of a generated TEE key')
    .choices([...TEE_KEY_ALGORITHMS])
    .default('P-256');

  program
    .command('attest')
    .description('run the RCAR handshake and print the attestation token')
    .option('--tee-key-file <PEM>', 'TEE private key (PKCS#8 EC or PKCS#1 RSA); default: a fresh key')
    .addOption(keyAlgorithm)
    .argument('[INIT_DATA]', 'init-data TOML file sent with the evidence')
    .action(
      async (
        initDataFile: string | undefined,
        o: { teeKeyFile?: string; teeKeyAlgorithm: TeeKeyAlgorithm },
      ) => {
        const client = new KbsClient({
          ...(await connection(program)),
          auth: 'cookie',
          teeKey: await teeKeyFrom(o.teeKeyFile),
          teeKeyAlgorithm: o.teeKeyAlgorithm,
          initData: await initDataFrom(initDataFile),
        });
        try {
          print((await client.attest()).token.raw);
        } finally {
          client.close();
        }
      },
    );

  program
    .command('get-resource')
    .description('fetch a resource and print it in standard base64')
    .requiredOption('--path <PATH>', 'resource path <repository>/<type>/<tag>')
    .option('--tee-key-file <PEM>', 'TEE private key; required with --attestation-token')
    .option('--attestation-token <FILE>', 'use this token (Bearer) instead of attesting')
    .addOption(keyAlgorithm)
    .argument('[INIT_DATA]', 'init-data TOML file sent with the evidence')
    .action(
      async (
        initDataFile: string | undefined,
        o: { path: string; teeKeyFile?: string; attestationToken?: string; teeKeyAlgorithm: TeeKeyAlgorithm },
      ) => {
        const conn = await connection(program);
        const teeKey = await teeKeyFrom(o.teeKeyFile);
        let client: KbsClient;
        if (o.attestationToken !== undefined) {
          if (!teeKey) {
            throw new UsageError(
              '--attestation-token needs --tee-key-file: the private key whose public part is the tee-pubkey in the token',
            );
          }
          const raw = (await readInput(o.attestationToken, '--attestation-token')).toString('utf8').trim();
          const token = new AttestationToken(raw);
          const bound = token.teePubkey();
          if (bound !== undefined && !teeKey.matches(bound)) {
            throw new KbsClientError(
              'INVALID_ARGUMENT',
              "the token's tee-pubkey is not the public half of --tee-key-file: the KBS would encrypt to another key",
            );
          }
          client = new KbsClient({
            ...conn,
            tokenSource: new StaticTokenSource({ token, teeKey: teeKey.privateKey }),
          });
        } else {
          // Background check, as upstream: the RCAR session cookie authorizes the GET.
          client = new KbsClient({
            ...conn,
            auth: 'cookie',
            teeKey,
            teeKeyAlgorithm: o.teeKeyAlgorithm,
            initData: await initDataFrom(initDataFile),
          });
        }
        try {
          print(encodeStd(await client.getResource({ path: o.path })));
        } finally {
          client.close();
        }
      },
    );

  const config = program
    .command('config')
    .description('administer the KBS (admin API)')
    .option(
      '--admin-token-file <FILE>',
      'admin bearer token (default ./kbs/config/docker-compose/admin-token, ~/.trustee/admin-token)',
    );

  const admin = async <T>(cmd: Command, fn: (c: KbsAdminClient) => Promise<T>): Promise<T> => {
    const c = new KbsAdminClient({
      ...(await connection(program)),
      adminToken: await adminToken(cmd.opts<{ adminTokenFile?: string }>().adminTokenFile),
    });
    try {
      return await fn(c);
    } finally {
      c.close();
    }
  };

  config
    .command('set-resource')
    .description('store a resource (the file content, as is)')
    .requiredOption('--path <PATH>', 'resource path <repository>/<type>/<tag>')
    .requiredOption('--resource-file <FILE>', 'file holding the resource bytes')
    .action(async (o: { path: string; resourceFile: string }) => {
      const bytes = await readInput(o.resourceFile, '--resource-file');
      await admin(config, (c) => c.setResource(o.path, bytes));
      // Upstream echoes the secret in base64 here; a digest identifies it without leaking it.
      const digest = createHash('sha256').update(bytes).digest('hex');
      print(`Set resource success \n resource: sha256:${digest} (${bytes.length} bytes)`);
    });

  config
    .command('delete-resource')
    .description('delete a resource')
    .requiredOption('--path <PATH>', 'resource path <repository>/<type>/<tag>')
    .action(async (o: { path: string }) => {
      await admin(config, (c) => c.deleteResource(o.path));
      print('Delete resource success');
    });

  config
    .command('set-resource-policy')
    .description('install the resource policy from a file or a built-in one')
    .option('--policy-file <FILE>', 'Rego policy file')
    .option('--allow-all', 'release every resource to any attested requester')
    .option('--deny-all', 'release nothing')
    .option('--affirming', 'release when every appraised submodule is affirming')
    .option('--default', 'the default policy: any real TEE, never the sample TEE')
    .action(
      async (o: {
        policyFile?: string;
        allowAll?: boolean;
        denyAll?: boolean;
        affirming?: boolean;
        default?: boolean;
      }) => {
        const chosen: Array<[boolean, NamedResourcePolicy | 'file']> = [
          [o.policyFile !== undefined, 'file'],
          [!!o.allowAll, 'allow-all'],
          [!!o.denyAll, 'deny-all'],
          [!!o.affirming, 'affirming'],
          [!!o.default, 'default'],
        ];
        const picked = chosen.filter(([on]) => on);
        if (picked.length !== 1) {
          throw new UsageError(
            'set-resource-policy needs exactly one of --policy-file, --allow-all, --deny-all, --affirming, --default',
          );
        }
        const which = picked[0][1];
        const rego =
          which === 'file'
            ? (await readInput(o.policyFile!, '--policy-file')).toString('utf8')
            : NAMED_RESOURCE_POLICIES[which];
        await admin(config, (c) => c.setResourcePolicy(rego));
        print(`Set resource policy success \n policy: ${Buffer.from(rego, 'utf8').toString('base64url')}`);
      },
    );

  config
    .command('get-resource-policy')
    .description('print the installed resource policy ids')
    .action(async () => printJson(await admin(config, (c) => c.getResourcePolicy())));

  config
    .command('set-attestation-policy')
    .description('install an attestation policy')
    .requiredOption('--policy-file <FILE>', 'Rego policy file')
    .option('--type <TYPE>', 'policy type', 'rego')
    .option('--id <ID>', 'policy id (default_cpu for CPU evidence, default_gpu for devices)', 'default_cpu')
    .action(async (o: { policyFile: string; type: string; id: string }) => {
      const bytes = await readInput(o.policyFile, '--policy-file');
      await admin(config, (c) => c.setAttestationPolicy(bytes.toString('utf8'), { id: o.id, type: o.type }));
      print(`Set attestation policy success \n policy: ${encodeStd(bytes)}`);
    });

  config
    .command('set-sample-reference-value')
    .description('register a sample reference value with the RVPS')
    .argument('<NAME>', 'reference value name, e.g. svn')
    .argument('<VALUE>', 'the value')
    .option('--as-integer', 'store the value as an integer')
    .option('--as-bool', 'store the value as a boolean')
    .option('--as-single-value', 'store the value itself, not a one-element list')
    .action(
      async (
        name: string,
        value: string,
        o: { asInteger?: boolean; asBool?: boolean; asSingleValue?: boolean },
      ) => {
        if (o.asInteger && o.asBool) throw new UsageError('--as-integer and --as-bool are exclusive');
        const as = o.asInteger ? 'integer' : o.asBool ? 'bool' : 'string';
        await admin(config, (c) => c.setSampleReferenceValue(name, value, { as, single: !!o.asSingleValue }));
        print('Reference Values Updated');
      },
    );

  config
    .command('get-reference-value')
    .description('print a stored reference value')
    .requiredOption('--id <ID>', 'reference value name')
    .action(async (o: { id: string }) => printJson(await admin(config, (c) => c.getReferenceValue(o.id))));

  program
    .command('admin-token')
    .description('mint an admin bearer token (JWT with role, iat, exp)')
    .requiredOption('--private-key <PEM>', 'admin signing key (Ed25519, P-256 or RSA)')
    .requiredOption('--role <ROLE>', 'role claim matched by the KBS ACL')
    .option('--ttl <DURATION>', 'lifetime: seconds or with a unit (15m, 12h, 30d)', '1h')
    .option('--issuer <ISS>', 'iss claim (must match the KBS identity provider when configured)')
    .option('--audience <AUD>', 'aud claim (must match the KBS identity provider when configured)')
    .option('--subject <SUB>', 'sub claim (shown in the KBS audit log)')
    .action(
      async (o: {
        privateKey: string;
        role: string;
        ttl: string;
        issuer?: string;
        audience?: string;
        subject?: string;
      }) => {
        const token = await mintAdminToken({
          privateKeyPem: await readInput(o.privateKey, '--private-key'),
          role: o.role,
          ttlSeconds: parseTtl(o.ttl),
          issuer: o.issuer,
          audience: o.audience,
          subject: o.subject,
        });
        print(token);
      },
    );

  const policy = program
    .command('policy')
    .description('resource policy tools')
    .option('--admin-token-file <FILE>', 'admin bearer token');
  policy
    .command('check')
    .description('dry-run the resource policy: would this token get this resource?')
    .requiredOption('--path <PATH>', 'resource path <repository>/<type>/<tag>')
    .option('--attestation-token <FILE>', 'attestation token whose claims are the policy input')
    .option('--claims-file <FILE>', 'JSON claims to use as the policy input instead of a token')
    .option('--policy-file <FILE>', 'evaluate this Rego instead of the installed policy')
    .action(
      async (o: { path: string; attestationToken?: string; claimsFile?: string; policyFile?: string }) => {
        if ((o.attestationToken === undefined) === (o.claimsFile === undefined)) {
          throw new UsageError('policy check needs exactly one of --attestation-token and --claims-file');
        }
        const token = o.attestationToken
          ? (await readInput(o.attestationToken, '--attestation-token')).toString('utf8').trim()
          : undefined;
        let claims: unknown;
        if (o.claimsFile) {
          try {
            claims = JSON.parse((await readInput(o.claimsFile, '--claims-file')).toString('utf8'));
          } catch (e) {
            if (e instanceof KbsClientError) throw e;
            throw new UsageError('--claims-file is not valid JSON');
          }
        }
        const rego = o.policyFile
          ? (await readInput(o.policyFile, '--policy-file')).toString('utf8')
          : undefined;
        printJson(await admin(policy, (c) => c.policyCheck({ path: o.path, token, claims, policy: rego })));
      },
    );

  const audit = program
    .command('audit')
    .description('the KBS release audit log')
    .option('--admin-token-file <FILE>', 'admin bearer token');
  audit
    .command('list')
    .description('print audit records, one JSON object per line')
    .option('--since <TIME>', 'only records at or after this time (ISO 8601)')
    .option('--path <PATH>', 'only records for this resource path')
    .action(async (o: { since?: string; path?: string }) => {
      let since: Date | undefined;
      if (o.since !== undefined) {
        since = new Date(o.since);
        if (Number.isNaN(since.getTime()))
          throw new UsageError(`--since ${JSON.stringify(o.since)} is not a date`);
      }
      const records = await admin(audit, (c) => c.auditList({ since, path: o.path }));
      for (const r of Array.isArray(records) ? records : [records]) printJson(r);
    });
  audit
    .command('verify')
    .description('check the audit hash chain')
    .action(async () => {
      const r = (await admin(audit, (c) => c.auditVerify())) as Record<string, unknown>;
      if (r?.ok === true) {
        print(`audit chain intact: ${r.count} records, head ${r.headHash}`);
        return;
      }
      throw new KbsClientError(
        'AUDIT_CHAIN_BROKEN',
        `audit chain broken at record ${r?.badSeq}: ${typeof r?.reason === 'string' ? r.reason : 'unknown reason'}`,
      );
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  await runProgram(buildProgram(), argv);
}
