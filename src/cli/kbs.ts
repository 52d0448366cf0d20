import { Command, Option } from 'commander';
import { verifyEvidenceFile } from '../attestation/verify-evidence.js';
import { loadConfigFile } from '../kbs/config/config.js';
import { importTrusteeLocalFs } from '../kbs/import-trustee.js';
import { initKbs } from '../kbs/init/init.js';
import { startKbs } from '../kbs/server.js';
import { openStorage } from '../kbs/storage/index.js';
import { prepareProgram, runProgram, UsageError } from './run.js';

/*
 * `kbs`: the Key Broker Service. `kbs -c FILE` (or env KBS_CONFIG_FILE) serves until SIGINT/SIGTERM
 * and prints one readiness line on stdout: `kbs listening on <url>`. `kbs init --dir DIR` writes a
 * working TLS configuration, keys and an admin token.
 */

async function serve(file: string): Promise<void> {
  const config = loadConfigFile(file);
  const kbs = await startKbs(config);
  process.stdout.write(`kbs listening on ${kbs.urls.join(' ')}\n`);
  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      process.stderr.write(`kbs: ${sig}, shutting down\n`);
      kbs.close().then(resolve, resolve);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}

export async function main(argv: string[]): Promise<void> {
  const program = prepareProgram(new Command('kbs'))
    .description('Key Broker Service (Confidential Containers, Trustee-compatible)')
    .option('-c, --config-file <file>', 'configuration file (TOML, or .yaml/.json); env KBS_CONFIG_FILE')
    .action(async (opts: { configFile?: string }) => {
      const file = opts.configFile ?? process.env.KBS_CONFIG_FILE;
      if (!file)
        throw new UsageError('a configuration file is required: kbs -c FILE (or run `kbs init --dir DIR`)');
      await serve(file);
    });
  program
    .command('init')
    .description('write a working configuration, TLS certificate, token-signer key and admin credentials')
    .requiredOption('--dir <dir>', 'output directory')
    .option('--host <host>', 'listen address', '127.0.0.1')
    .option('--port <port>', 'listen port', '8080')
    .option('--force', 'overwrite existing files')
    .action((opts: { dir: string; host: string; port: string; force?: boolean }) => {
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        throw new UsageError('--port must be 0..65535');
      const r = initKbs({ dir: opts.dir, host: opts.host, port, force: opts.force });
      process.stdout.write(`kbs init: wrote ${r.files.join(', ')}\n${r.nextSteps}\n`);
    });
  program
    .command('check-config')
    .description('validate a configuration file and exit')
    .argument('<file>')
    .action((file: string) => {
      loadConfigFile(file);
      process.stdout.write(`kbs: ${file} is valid\n`);
    });
  program
    .command('verify-evidence')
    .description(
      'verify recorded SNP or TDX evidence offline (the /attest code path); exit 0 only when genuine',
    )
    .addOption(new Option('--tee <tee>', 'TEE type').choices(['snp', 'tdx']).makeOptionMandatory())
    .requiredOption('--evidence <file>', 'Trustee evidence JSON, a raw SNP report or a raw TDX quote')
    .option('--vek <file>', 'SNP: VCEK/VLEK certificate (DER or PEM) if the evidence does not carry it')
    .option('--collateral <path>', 'TDX: collateral bundle (collateral.json) or directory')
    .option('--at <time>', 'verify as of this instant (ISO 8601); default now')
    .option('--report-data <hex>', 'expected report data (zero-padded to 64 bytes)')
    .option('--min-version <n>', 'SNP: lowest accepted report version (default 3)')
    .option('--allow-vmpl <list>', 'SNP: comma-separated VMPLs accepted (default 0)')
    .option('--vcek-cache <dir>', 'SNP: offline VCEK cache directory')
    .option('--kds-url <url>', 'SNP: AMD KDS base URL (never contacted unless set)')
    .option('--pccs-url <url>', 'TDX: PCCS/PCS base URL (never contacted unless set)')
    .option('--allow-missing-collateral', 'TDX: verify the quote without collateral (no TCB status)')
    .option('--allow-missing-crl', 'TDX: accept collateral without PCK/root CRLs')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (o: Record<string, string | boolean | undefined>) => {
      let at: Date | undefined;
      if (typeof o.at === 'string') {
        at = new Date(o.at);
        if (Number.isNaN(at.getTime()))
          throw new UsageError(`--at ${o.at} is not a time (use ISO 8601, e.g. 2025-07-01T00:00:00Z)`);
      }
      const result = await verifyEvidenceFile({
        tee: o.tee as 'snp' | 'tdx',
        evidencePath: o.evidence as string,
        vekPath: o.vek as string | undefined,
        collateralPath: o.collateral as string | undefined,
        at,
        reportDataHex: o.reportData as string | undefined,
        minVersion: o.minVersion === undefined ? undefined : Number(o.minVersion),
        allowedVmpls: typeof o.allowVmpl === 'string' ? o.allowVmpl.split(',').map(Number) : undefined,
        vcekCacheDir: o.vcekCache as string | undefined,
        kdsUrl: o.kdsUrl as string | undefined,
        pccsUrl: o.pccsUrl as string | undefined,
        allowMissingCollateral: Boolean(o.allowMissingCollateral),
        allowMissingCrls: Boolean(o.allowMissingCrl),
      });
      if (o.output === 'json') process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      else if (result.ok)
        process.stdout.write(
          `genuine ${result.tee} evidence; claims:\n${JSON.stringify(result.claims, null, 2)}\n`,
        );
      if (!result.ok) {
        process.stderr.write(`kbs: ${result.error?.code}: ${result.error?.message}\n`);
        process.exitCode = 1;
      }
    });
  program
    .command('import-trustee')
    .description("import an upstream Trustee LocalFs storage directory into this KBS's storage")
    .requiredOption('--from <dir>', 'the Trustee storage directory (keys flattened with \\x2F)')
    .option(
      '-c, --config-file <file>',
      'KBS configuration naming the target [storage_backend]; env KBS_CONFIG_FILE',
    )
    .option('--overwrite', 'replace existing keys whose value differs')
    .option('--skip-malformed', 'import the well-formed entries and report the others')
    .option('--dry-run', 'validate and compare only; write nothing')
    .action(
      async (o: {
        from: string;
        configFile?: string;
        overwrite?: boolean;
        skipMalformed?: boolean;
        dryRun?: boolean;
      }) => {
        const file =
          o.configFile ?? program.opts<{ configFile?: string }>().configFile ?? process.env.KBS_CONFIG_FILE;
        if (!file) throw new UsageError('import-trustee needs the KBS configuration: -c FILE');
        const stores = await openStorage(loadConfigFile(file).storage);
        try {
          const r = await importTrusteeLocalFs(o.from, stores.storage, {
            overwrite: o.overwrite,
            skipMalformed: o.skipMalformed,
            dryRun: o.dryRun,
            onProgress: (p) => {
              if (p.done % 100 === 0 || p.done === p.total)
                process.stderr.write(`\rimported ${p.done}/${p.total}`);
            },
          });
          process.stderr.write('\n');
          const verb = o.dryRun ? 'would import' : 'imported';
          process.stdout.write(
            `${verb} ${r.imported} of ${r.total} entries (${r.unchanged} unchanged, ${r.conflicts.length} conflicts, ${r.malformed.length} malformed)\n`,
          );
          for (const [ns, n] of Object.entries(r.byNamespace)) process.stdout.write(`  ${ns}: ${n}\n`);
          for (const c of r.conflicts)
            process.stdout.write(
              `  conflict: ${c.namespace}/${c.key} differs (use --overwrite to replace)\n`,
            );
          for (const m of r.malformed) process.stdout.write(`  malformed: ${m.file}: ${m.reason}\n`);
          if (r.conflicts.length || r.malformed.length) process.exitCode = 1;
        } finally {
          await stores.close();
        }
      },
    );
  await runProgram(program, argv);
}
