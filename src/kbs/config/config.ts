import { readFileSync } from 'node:fs';
import { dirname, extname, isAbsolute, resolve } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { parse as parseYaml } from 'yaml';
import { type StorageConfig, storageConfigFromToml } from '../storage/index.js';
import { configError, isTable, Reader, type Table } from './schema.js';

/*
 * The KBS configuration (kbs-protocol.md §11): upstream `kbs-config.toml` keys that apply here, parsed
 * once into a typed, validated object. Unknown keys are rejected by name. Relative paths are resolved
 * against the directory of the configuration file.
 */

export interface SocketAddress {
  host: string;
  port: number;
}

export interface HttpServerConfig {
  sockets: SocketAddress[];
  insecureHttp: boolean;
  privateKey?: string;
  certificate?: string;
  /** Request body limit in bytes (`payload_request_size` is in MiB upstream). */
  payloadLimitBytes: number;
  /** Worker threads for resource-response JWEs (ours); undefined = automatic, 0 = inline. */
  cryptoWorkers?: number;
}

export interface AttestationTokenConfig {
  trustedJwkSets: string[];
  trustedCertsPaths: string[];
  extraTeekeyPaths: string[];
  insecureHeaderJwk: boolean;
  /** Bounded cache of verified tokens (ours). */
  cacheSize: number;
}

export interface SignerConfig {
  keyPath?: string;
  certPath?: string;
  certUrl?: string;
}

export interface TokenBrokerConfig {
  durationMin: number;
  issuerName: string;
  developerName: string;
  buildName: string;
  profileName: string;
  verboseToken: boolean;
  /** Absent: a P-256 key generated once and persisted in storage (shared by replicas and restarts). */
  signer?: SignerConfig;
  policyIds: string[];
}

/** Options for the hardware verifiers (`[attestation_service.verifier_config.snp|tdx]`, ours). */
export interface VerifierConfig {
  snp?: {
    minVersion?: number;
    allowedVmpls?: number[];
    vcekCacheDir?: string;
    kdsUrl?: string;
    kdsTimeoutMs?: number;
    rootsDir?: string;
  };
  tdx?: {
    collateralDir?: string;
    pccsUrl?: string;
    pccsUpdateType?: 'early' | 'standard';
    pccsTimeoutMs?: number;
    rootCaPem?: string;
    acceptedTcbStatuses?: string[];
    allowMissingCrls?: boolean;
    allowMissingCollateral?: boolean;
  };
}

export interface AttestationServiceConfig {
  type: 'coco_as_builtin';
  verifiers: VerifierConfig;
  /** Session lifetime in minutes. */
  timeoutMin: number;
  broker: TokenBrokerConfig;
}

export interface IdentityProvider {
  issuer?: string;
  audience?: string;
  publicKeyUri?: string;
  jwkSetUri?: string;
}

export interface AclRule {
  role: string;
  allowedEndpoints: RegExp;
  source: string;
}

export type AdminConfig =
  | { mode: 'DenyAll' }
  | { mode: 'InsecureAllowAll' }
  | { mode: 'AuthenticatedAuthorization'; identityProviders: IdentityProvider[]; acls: AclRule[] };

export interface PluginConfig {
  name: 'resource';
}

export interface KbsConfig {
  httpServer: HttpServerConfig;
  attestationToken: AttestationTokenConfig;
  /** Undefined: no built-in AS (a passport resource KBS; /auth and /attest answer 404). */
  attestationService?: AttestationServiceConfig;
  admin: AdminConfig;
  /** `[storage_backend]`, validated by the storage module (relative paths resolved). */
  storage: StorageConfig;
  plugins: PluginConfig[];
  /** Directory relative paths were resolved against. */
  baseDir: string;
}

const MIB = 1024 * 1024;

function parseSocket(s: string, where: string): SocketAddress {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([^:[\]]+):(\d{1,5})$/.exec(s);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || port > 65535) throw configError(`${where}: ${JSON.stringify(s)} is not HOST:PORT`);
  return { host: m[1], port };
}

function path(base: string, p: string | undefined): string | undefined {
  if (p === undefined) return undefined;
  if (p.startsWith('file://')) return new URL(p).pathname;
  if (/^https?:\/\//.test(p)) return p;
  return isAbsolute(p) ? p : resolve(base, p);
}

function httpServer(r: Reader | undefined, base: string): HttpServerConfig {
  if (!r) throw configError('the [http_server] table is required (it may be empty)');
  const sockets = (r.has('sockets') ? r.stringList('sockets') : ['127.0.0.1:8080']).map((s) =>
    parseSocket(s, '[http_server] sockets'),
  );
  if (sockets.length === 0) throw configError('[http_server] sockets must not be empty');
  const insecureHttp = r.bool('insecure_http', false);
  const privateKey = path(base, r.string('private_key'));
  const certificate = path(base, r.string('certificate'));
  const mib = r.int('payload_request_size', 2, 1, 1024);
  const cryptoWorkers = r.has('crypto_workers') ? r.int('crypto_workers', 0, 0, 64) : undefined;
  r.ignore('worker_count');
  r.done();
  if (!insecureHttp && (!privateKey || !certificate)) {
    throw configError(
      '[http_server] private_key and certificate are required unless insecure_http = true (run `kbs init` to create them)',
    );
  }
  return { sockets, insecureHttp, privateKey, certificate, payloadLimitBytes: mib * MIB, cryptoWorkers };
}

function attestationToken(r: Reader | undefined, base: string): AttestationTokenConfig {
  const t = r ?? new Reader({}, 'attestation_token');
  const cfg: AttestationTokenConfig = {
    trustedJwkSets: t.stringList('trusted_jwk_sets').map((p) => path(base, p)!),
    trustedCertsPaths: t.stringList('trusted_certs_paths').map((p) => path(base, p)!),
    extraTeekeyPaths: t.stringList('extra_teekey_paths'),
    insecureHeaderJwk: t.bool('insecure_header_jwk', false),
    cacheSize: t.int('verified_token_cache_size', 4096, 0, 1_000_000),
  };
  for (const p of cfg.extraTeekeyPaths) {
    if (!p.startsWith('/'))
      throw configError(`[attestation_token] extra_teekey_paths: ${JSON.stringify(p)} is not a JSON pointer`);
  }
  t.done();
  return cfg;
}

function attestationService(r: Reader | undefined, base: string): AttestationServiceConfig | undefined {
  const t = r ?? new Reader({}, 'attestation_service');
  const type = t.oneOf(
    'type',
    ['coco_as_builtin', 'none', 'coco_as_grpc', 'intel_ta'] as const,
    'coco_as_builtin',
  );
  if (type === 'coco_as_grpc' || type === 'intel_ta') {
    throw configError(
      `[attestation_service] type = "${type}" is not supported; use "coco_as_builtin" or "none"`,
    );
  }
  if (type === 'none') {
    t.done();
    return undefined;
  }
  const timeoutMin = t.int('timeout', 5, 1, 24 * 60);
  t.ignore('work_dir', 'policy_engine');
  const rvps = t.sub('rvps_config');
  if (rvps) {
    const rt = rvps.oneOf('type', ['BuiltIn', 'GrpcRemote'] as const, 'BuiltIn');
    if (rt !== 'BuiltIn')
      throw configError('[attestation_service.rvps_config] only type = "BuiltIn" is supported');
    rvps.ignore('storage');
    rvps.done();
  }
  const b =
    t.sub('attestation_token_broker') ?? new Reader({}, 'attestation_service.attestation_token_broker');
  b.ignore('type');
  const s = b.sub('signer');
  let signer: SignerConfig | undefined;
  if (s) {
    signer = {
      keyPath: path(base, s.requiredString('key_path')),
      certPath: path(base, s.string('cert_path')),
      certUrl: s.string('cert_url'),
    };
    s.done();
  }
  const broker: TokenBrokerConfig = {
    durationMin: b.int('duration_min', 5, 1, 7 * 24 * 60),
    issuerName: b.string('issuer_name', 'CoCo-Attestation-Service'),
    developerName: b.string('developer_name', 'https://confidentialcontainers.org'),
    buildName: b.string('build_name', 'cocoseal attestation-service 0.1.0'),
    profileName: b.string('profile_name', 'tag:github.com,2024:confidential-containers/Trustee'),
    verboseToken: b.bool('verbose_token', true),
    signer,
    policyIds: b.has('policy_ids') ? b.stringList('policy_ids') : ['default'],
  };
  if (broker.policyIds.length === 0)
    throw configError('[attestation_service.attestation_token_broker] policy_ids must not be empty');
  b.done();
  const verifiers = verifierConfig(t.sub('verifier_config'), base);
  t.done();
  return { type: 'coco_as_builtin', timeoutMin, broker, verifiers };
}

function optInt(r: Reader, key: string, min: number, max: number): number | undefined {
  return r.has(key) ? r.int(key, 0, min, max) : undefined;
}

function optBool(r: Reader, key: string): boolean | undefined {
  return r.has(key) ? r.bool(key, false) : undefined;
}

function verifierConfig(r: Reader | undefined, base: string): VerifierConfig {
  const out: VerifierConfig = {};
  if (!r) return out;
  const snp = r.sub('snp');
  if (snp) {
    out.snp = {
      minVersion: optInt(snp, 'min_version', 2, 5),
      allowedVmpls: snp.has('allowed_vmpls') ? (snp.raw('allowed_vmpls') as number[]) : undefined,
      vcekCacheDir: path(base, snp.string('vcek_cache_dir')),
      kdsUrl: snp.string('kds_url'),
      kdsTimeoutMs: optInt(snp, 'kds_timeout_ms', 1, 600_000),
      rootsDir: path(base, snp.string('roots_dir')),
    };
    const v = out.snp.allowedVmpls;
    if (v !== undefined && (!Array.isArray(v) || !v.every((x) => Number.isInteger(x) && x >= 0 && x <= 3))) {
      throw configError(
        '[attestation_service.verifier_config.snp] allowed_vmpls must be a list of integers 0..3',
      );
    }
    snp.done();
  }
  const tdx = r.sub('tdx');
  if (tdx) {
    const rootCa = path(base, tdx.string('root_ca_path'));
    out.tdx = {
      collateralDir: path(base, tdx.string('collateral_dir')),
      pccsUrl: tdx.string('pccs_url'),
      pccsUpdateType: tdx.has('pccs_update_type')
        ? tdx.oneOf('pccs_update_type', ['early', 'standard'] as const)
        : undefined,
      pccsTimeoutMs: optInt(tdx, 'pccs_timeout_ms', 1, 600_000),
      rootCaPem: rootCa ? readFileSync(rootCa, 'utf8') : undefined,
      acceptedTcbStatuses: tdx.has('accepted_tcb_statuses')
        ? tdx.stringList('accepted_tcb_statuses')
        : undefined,
      allowMissingCrls: optBool(tdx, 'allow_missing_crls'),
      allowMissingCollateral: optBool(tdx, 'allow_missing_collateral'),
    };
    tdx.done();
  }
  r.done();
  return out;
}

function admin(r: Reader | undefined, base: string): AdminConfig {
  // Secure default: authenticated admin API. Upstream requires the table; we default its mode instead.
  const t = r ?? new Reader({}, 'admin');
  if (t.has('type')) {
    throw configError(
      '[admin] type is a legacy key; use authorization_mode = "DenyAll" | "InsecureAllowAll" | "AuthenticatedAuthorization"',
    );
  }
  const modeRaw = t.oneOf(
    'authorization_mode',
    ['DenyAll', 'InsecureAllowAll', 'AuthenticatedAuthorization', 'Authenticated'] as const,
    'AuthenticatedAuthorization',
  );
  const mode = modeRaw === 'Authenticated' ? 'AuthenticatedAuthorization' : modeRaw;
  if (mode !== 'AuthenticatedAuthorization') {
    t.done();
    return { mode };
  }
  const authn = t.sub('authentication');
  const jwt = authn?.sub('bearer_jwt');
  authn?.done();
  const authz = t.sub('authorization');
  const acl = authz?.sub('regex_acl');
  authz?.done();
  t.done();
  if (!jwt) {
    throw configError(
      '[admin] authorization_mode = "AuthenticatedAuthorization" (the default) needs [admin.authentication.bearer_jwt] identity_providers; run `kbs init` or set authorization_mode explicitly',
    );
  }
  const identityProviders = jwt.tables('identity_providers').map((p) => {
    const idp: IdentityProvider = {
      issuer: p.string('issuer'),
      audience: p.string('audience'),
      publicKeyUri: path(base, p.string('public_key_uri')),
      jwkSetUri: path(base, p.string('jwk_set_uri')),
    };
    p.done();
    if (!idp.publicKeyUri && !idp.jwkSetUri)
      throw configError(`[${p.where}] needs public_key_uri or jwk_set_uri`);
    return idp;
  });
  jwt.done();
  if (identityProviders.length === 0) {
    throw configError('[admin.authentication.bearer_jwt] identity_providers must have at least one entry');
  }
  const acls = (acl?.tables('acls') ?? []).map((a) => {
    const role = a.requiredString('role');
    const source = a.requiredString('allowed_endpoints');
    a.done();
    if (!source.startsWith('^/kbs') || !source.endsWith('$')) {
      throw configError(`[${a.where}] allowed_endpoints must start with "^/kbs" and end with "$"`);
    }
    let re: RegExp;
    try {
      re = new RegExp(source);
    } catch (e) {
      throw configError(
        `[${a.where}] allowed_endpoints is not a valid regular expression: ${(e as Error).message}`,
      );
    }
    return { role, allowedEndpoints: re, source };
  });
  acl?.done();
  return { mode, identityProviders, acls };
}

function plugins(list: Reader[]): PluginConfig[] {
  return list.map((p) => {
    const name = p.requiredString('name');
    if (name !== 'resource')
      throw configError(`[[plugins]] name = "${name}" is not supported (only "resource")`);
    const type = p.string('type', 'KvStorage');
    if (type !== 'KvStorage') {
      throw configError(
        `[[plugins]] resource type = "${type}" is not supported: resources live in [storage_backend] (namespace "repository"); remove "type" or set it to "KvStorage"`,
      );
    }
    p.done();
    return { name: 'resource' };
  });
}

function storage(table: unknown, base: string): StorageConfig {
  // Resolve relative file paths against the configuration file, like every other path here.
  let t = table;
  if (isTable(t) && isTable(t.backends)) {
    const backends: Table = { ...t.backends };
    for (const [name, key] of [
      ['sqlite', 'path'],
      ['local_fs', 'dir_path'],
      ['local_fs', 'audit_path'],
    ] as const) {
      const sec = backends[name];
      if (isTable(sec) && typeof sec[key] === 'string')
        backends[name] = { ...sec, [key]: path(base, sec[key] as string) };
    }
    t = { ...t, backends };
  }
  try {
    return storageConfigFromToml(t);
  } catch (e) {
    throw configError((e as Error).message);
  }
}

/** Validates a parsed document. `baseDir` resolves relative paths. */
export function configFromObject(doc: unknown, baseDir: string): KbsConfig {
  if (!isTable(doc)) throw configError('the configuration must be a table/object');
  const r = new Reader(doc, '');
  const cfg: KbsConfig = {
    httpServer: httpServer(r.sub('http_server'), baseDir),
    attestationToken: attestationToken(r.sub('attestation_token'), baseDir),
    attestationService: attestationService(r.sub('attestation_service'), baseDir),
    admin: admin(r.sub('admin'), baseDir),
    storage: storage(r.raw('storage_backend'), baseDir),
    plugins: plugins(r.tables('plugins')),
    baseDir,
  };
  r.done();
  const t = cfg.attestationToken;
  if (
    !cfg.attestationService &&
    t.trustedJwkSets.length === 0 &&
    t.trustedCertsPaths.length === 0 &&
    !t.insecureHeaderJwk
  ) {
    // With a built-in AS the broker's own signer key is a trust source; without one, something must be configured.
    throw configError(
      '[attestation_token] needs a trust source: trusted_jwk_sets, trusted_certs_paths or insecure_header_jwk = true',
    );
  }
  return cfg;
}

/** Reads a TOML (or .yaml/.yml/.json) configuration file. */
export function loadConfigFile(file: string): KbsConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw configError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let doc: unknown;
  const ext = extname(file).toLowerCase();
  try {
    if (ext === '.json') doc = JSON.parse(text);
    else if (ext === '.yaml' || ext === '.yml') doc = parseYaml(text);
    else doc = parseToml(text);
  } catch (e) {
    throw configError(`${file} does not parse: ${(e as Error).message.split('\n')[0]}`);
  }
  return configFromObject(doc, dirname(resolve(file)));
}
