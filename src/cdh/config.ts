import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parseKbcParams } from '../kms/kbc-params.js';
import { SEALED_SECRET_KEY_DIR } from '../kms/verification-keys.js';
import { CdhError } from './errors.js';

/*
 * `cdh.toml` (cdh.md §4): upstream keys with upstream precedence, parsed once into a typed object.
 * Env `AA_KBC_PARAMS`/`AA_SOCKET` beat the file; without a file the KBC comes from the env, then the
 * kernel command line `agent.aa_kbc_params`, then `offline_fs_kbc`. `cdh.kbs_resources` on the kernel
 * command line adds credentials.
 */

export const DEFAULT_SOCKET = 'unix:///run/confidential-containers/cdh.sock';
export const DEFAULT_AA_SOCKET =
  'unix:///run/confidential-containers/attestation-agent/attestation-agent.sock';
export const CDH_BASE_DIR = '/run/confidential-containers/cdh';

export type AttesterKind = 'auto' | 'sample' | 'tsm';

export interface CredentialSpec {
  resourceUri: string;
  path: string;
}

export interface CdhConfig {
  socket: string;
  kbc: { name: string; url: string; kbsCert?: string };
  aaSocket: string;
  credentials: CredentialSpec[];
  skipSealedSecretVerification: boolean;
  logLevel: string;
  /** Ours: which attester produces evidence (`[attester] type`); `auto` probes configfs-tsm, else sample. */
  attester: AttesterKind;
  /** Ours: configfs-tsm report directory (`[attester] tsm_path`). */
  tsmPath?: string;
  /** Ours: local verification keys (`sealed_secret_key_dir`). */
  verificationKeyDir: string;
  /** Ours: how long a verification key fetched by kid is reused (`[cache] kid_ttl_seconds`, default 300). */
  kidCacheTtlSeconds: number;
  /** Where credentials may be written: `<baseDir>/kbs` (`base_dir`, for tests; default upstream's). */
  baseDir: string;
}

export interface ConfigSources {
  /** `-c FILE`. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Kernel command line text (default: /proc/cmdline when readable). */
  cmdline?: string;
  warn?: (m: string) => void;
}

const KNOWN_TOP = new Set([
  'socket',
  'kbc',
  'aa',
  'credentials',
  'skip_sealed_secret_verification',
  'log',
  'image',
  'attester',
  'sealed_secret_key_dir',
  'cache',
  'base_dir',
]);

// The YAML parser is large (~100 modules) and only YAML configs need it, so it is loaded on demand
// (synchronously: the package ships CommonJS) rather than on every daemon start.
const requireHere = createRequire(import.meta.url);
const parseYaml = (text: string): unknown => (requireHere('yaml') as typeof import('yaml')).parse(text);

const invalid = (file: string, why: string) => new CdhError('CONFIG_INVALID', `${file}: ${why}`);

function readStructured(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw invalid(file, 'cannot read the config file');
  }
  let doc: unknown;
  const ext = extname(file).toLowerCase();
  try {
    doc =
      ext === '.json'
        ? JSON.parse(text)
        : ext === '.yaml' || ext === '.yml'
          ? parseYaml(text)
          : parseToml(text);
  } catch (e) {
    throw invalid(
      file,
      `not valid ${ext === '.json' ? 'JSON' : ext.startsWith('.y') ? 'YAML' : 'TOML'}: ${(e as Error).message.split('\n')[0]}`,
    );
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw invalid(file, 'must be a table/object');
  return doc as Record<string, unknown>;
}

function table(doc: Record<string, unknown>, key: string, file: string): Record<string, unknown> | undefined {
  const v = doc[key];
  if (v === undefined) return undefined;
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalid(file, `[${key}] must be a table`);
  return v as Record<string, unknown>;
}

function str(
  t: Record<string, unknown> | undefined,
  key: string,
  where: string,
  file: string,
): string | undefined {
  const v = t?.[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw invalid(file, `${where}${key} must be a string`);
  return v;
}

/** `agent.aa_kbc_params=` and `cdh.kbs_resources=` from a kernel command line. */
export function parseCmdline(cmdline: string): { aaKbcParams?: string; credentials: CredentialSpec[] } {
  let aaKbcParams: string | undefined;
  const credentials: CredentialSpec[] = [];
  for (const word of cmdline.trim().split(/\s+/)) {
    if (word.startsWith('agent.aa_kbc_params=')) aaKbcParams = word.slice('agent.aa_kbc_params='.length);
    if (word.startsWith('cdh.kbs_resources=')) {
      for (const item of word.slice('cdh.kbs_resources='.length).split(',')) {
        // Split at the last `::` so that an IPv6 host inside the URI survives.
        const i = item.lastIndexOf('::');
        if (i > 0) credentials.push({ resourceUri: item.slice(0, i), path: item.slice(i + 2) });
      }
    }
  }
  return { aaKbcParams, credentials };
}

function defaultCmdline(): string {
  try {
    return readFileSync('/proc/cmdline', 'utf8');
  } catch {
    return '';
  }
}

function kbcFromParams(params: string): CdhConfig['kbc'] {
  // Split at the first `::` only, so `cc_kbc::http://[::1]:8080` works (upstream splits on every `::`).
  const { kbc, url } = parseKbcParams(params);
  return { name: kbc, url };
}

export function loadCdhConfig(src: ConfigSources = {}): CdhConfig {
  const env = src.env ?? process.env;
  const cmd = parseCmdline(src.cmdline ?? defaultCmdline());
  const file = src.file ?? '';
  const doc = src.file ? readStructured(src.file) : {};
  for (const k of Object.keys(doc)) if (!KNOWN_TOP.has(k)) src.warn?.(`${file}: ignoring unknown key ${k}`);

  const kbcTable = table(doc, 'kbc', file);
  let kbc: CdhConfig['kbc'];
  if (src.file) {
    const name = str(kbcTable, 'name', 'kbc.', file);
    if (name === undefined) throw invalid(file, '[kbc] name is required');
    kbc = {
      name,
      url: str(kbcTable, 'url', 'kbc.', file) ?? '',
      kbsCert: str(kbcTable, 'kbs_cert', 'kbc.', file),
    };
  } else {
    const params = env.AA_KBC_PARAMS ?? cmd.aaKbcParams;
    kbc = params ? kbcFromParams(params) : { name: 'offline_fs_kbc', url: '' };
  }
  // A pre-existing AA_KBC_PARAMS wins over the file (upstream set-if-unset export).
  if (src.file && env.AA_KBC_PARAMS) kbc = { ...kbcFromParams(env.AA_KBC_PARAMS), kbsCert: kbc.kbsCert };
  if (kbc.name !== 'cc_kbc' && kbc.name !== 'offline_fs_kbc') {
    throw invalid(
      file || 'AA_KBC_PARAMS',
      `unknown kbc name ${kbc.name}, only support \`cc_kbc\` and \`offline_fs_kbc\``,
    );
  }
  if (kbc.name === 'cc_kbc') {
    try {
      new URL(kbc.url);
    } catch {
      throw invalid(file || 'AA_KBC_PARAMS', `kbc url ${JSON.stringify(kbc.url)} is not a URL`);
    }
  }

  const credsRaw = doc.credentials ?? [];
  if (!Array.isArray(credsRaw)) throw invalid(file, '[[credentials]] must be an array of tables');
  const credentials: CredentialSpec[] = credsRaw.map((c, i) => {
    const t = c as Record<string, unknown>;
    const resourceUri = str(t, 'resource_uri', `credentials[${i}].`, file);
    const path = str(t, 'path', `credentials[${i}].`, file);
    if (resourceUri === undefined || path === undefined)
      throw invalid(file, `credentials[${i}] needs resource_uri and path`);
    return { resourceUri, path };
  });

  const skip = doc.skip_sealed_secret_verification ?? false;
  if (typeof skip !== 'boolean') throw invalid(file, 'skip_sealed_secret_verification must be a boolean');
  const attesterTable = table(doc, 'attester', file);
  const attester = (str(attesterTable, 'type', 'attester.', file) ?? 'auto') as AttesterKind;
  if (!['auto', 'sample', 'tsm'].includes(attester))
    throw invalid(file, '[attester] type must be auto, sample or tsm');
  const ttl = table(doc, 'cache', file)?.kid_ttl_seconds ?? 300;
  if (typeof ttl !== 'number' || ttl < 0)
    throw invalid(file, '[cache] kid_ttl_seconds must be a non-negative number');
  const socket = str(doc, 'socket', '', file) ?? DEFAULT_SOCKET;
  if (!socket.startsWith('unix://'))
    throw invalid(file, 'socket address scheme is not expected (must start with unix://)');

  return {
    socket,
    kbc,
    aaSocket: env.AA_SOCKET ?? str(table(doc, 'aa', file), 'aa_socket', 'aa.', file) ?? DEFAULT_AA_SOCKET,
    credentials: [...credentials, ...cmd.credentials],
    skipSealedSecretVerification: skip,
    logLevel: env.RUST_LOG ?? str(table(doc, 'log', file), 'level', 'log.', file) ?? 'info',
    attester,
    tsmPath: str(attesterTable, 'tsm_path', 'attester.', file),
    verificationKeyDir: str(doc, 'sealed_secret_key_dir', '', file) ?? SEALED_SECRET_KEY_DIR,
    kidCacheTtlSeconds: ttl,
    baseDir: str(doc, 'base_dir', '', file) ?? CDH_BASE_DIR,
  };
}
