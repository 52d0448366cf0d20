import { readFileSync } from 'node:fs';
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Verifier } from '../attestation/types.js';
import { createLogger, type Logger, type LogLevel, parseLogLevel } from '../common/log.js';
import { AdminAuthorizer } from './admin/auth.js';
import { ReferenceValues } from './as/rvps.js';
import { AttestationService } from './as/service.js';
import { loadSigner } from './as/signer.js';
import { loadHardwareVerifiers, VerifierRegistry } from './as/verifiers.js';
import type { AuditLog } from './audit/types.js';
import { AuditBatcher } from './audit-batcher.js';
import { type KbsConfig, loadConfigFile } from './config/config.js';
import type { ConnMemo, KbsDeps, Reply, RequestCtx } from './context.js';
import { errors, KbsError } from './errors.js';
import { EMPTY_BODY, hasBody, readBody } from './http/body.js';
import { KbsMetrics } from './http/metrics.js';
import { dispatch } from './http/router.js';
import { AttestationPolicyStore } from './policy/attestation-policy.js';
import { ResourcePolicyStore } from './policy/resource-policy.js';
import { Sessions } from './rcar/sessions.js';
import { defaultWorkerCount, JwePool } from './resource/jwe-pool.js';
import { openStorage } from './storage/index.js';
import type { SessionStore } from './storage/session-store.js';
import type { Storage } from './storage/storage.js';
import { TokenVerifier } from './token/verifier.js';

/*
 * The KBS server: wiring and the HTTP(S) front. Everything expensive (config, keys, trust material,
 * policy compilation) happens once at startup or is cached; a request does routing, one storage read
 * per object it needs, and the crypto it must.
 */

export interface StartKbsOptions {
  /** Use these instead of opening `[storage_backend]` (the caller keeps ownership and closes them). */
  storage?: { storage: Storage; sessions: SessionStore; audit?: AuditLog };
  /** Extra verifiers (registered after sample/sampledevice and any hardware verifiers). */
  verifiers?: Verifier[];
  /** A logger, or a level for the default stderr JSON logger (env `KBS_LOG_LEVEL` otherwise). */
  logger?: Logger | LogLevel;
  /** Clock for sessions, token expiry and token issuance (tests). */
  clock?: () => number;
}

export interface RunningKbs {
  /** Base URL of the first socket, e.g. `https://127.0.0.1:41234`. */
  url: string;
  urls: string[];
  port: number;
  config: KbsConfig;
  storage: Storage;
  metrics: KbsMetrics;
  close(): Promise<void>;
}

const HEALTH: Reply = { status: 200 };

function queryMap(raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === '') return out;
  for (const [k, v] of new URLSearchParams(raw)) out[k] = v;
  return out;
}

type RouteLabel = 'auth' | 'attest' | 'resource' | 'admin';
/** Label objects built once: the metrics hot path allocates nothing per request. */
const ROUTE_LABELS: Record<RouteLabel, { route: RouteLabel }> = {
  auth: { route: 'auth' },
  attest: { route: 'attest' },
  resource: { route: 'resource' },
  admin: { route: 'admin' },
};

/** Per keep-alive connection memo (see ConnMemo); dropped with the socket. */
const conns = new WeakMap<object, ConnMemo>();

function routeLabel(seg: string | undefined): RouteLabel {
  switch (seg) {
    case 'auth':
    case 'attest':
    case 'resource':
      return seg;
    default:
      return 'admin';
  }
}

function send(res: ServerResponse, r: Reply): void {
  const headers: Record<string, string | string[] | number> = { ...r.headers };
  const body = r.body ?? '';
  headers['content-length'] = Buffer.byteLength(body);
  res.writeHead(r.status, headers);
  res.end(body);
}

function errorReply(e: KbsError): Reply {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (e.code === 'PAYLOAD_TOO_LARGE') headers.connection = 'close';
  return { status: e.status, headers, body: e.body() };
}

export async function buildDeps(
  config: KbsConfig,
  opts: StartKbsOptions,
  log: Logger,
): Promise<{ deps: KbsDeps; close: () => Promise<void> }> {
  let closeStorage = async () => {};
  let st: { storage: Storage; sessions: SessionStore; audit?: AuditLog };
  if (opts.storage) {
    st = opts.storage;
  } else {
    const opened = await openStorage(config.storage);
    st = opened;
    closeStorage = () => opened.close();
  }
  const clock = opts.clock ?? Date.now;
  try {
    const resourcePolicies = new ResourcePolicyStore(st.storage);
    await resourcePolicies.installDefault();
    let as: AttestationService | undefined;
    let attestationPolicies: AttestationPolicyStore | undefined;
    let rvps: ReferenceValues | undefined;
    let signer: Awaited<ReturnType<typeof loadSigner>> | undefined;
    const timeoutMin = config.attestationService?.timeoutMin ?? 5;
    if (config.attestationService) {
      const asCfg = config.attestationService;
      signer = await loadSigner(st.storage, asCfg.broker.signer);
      attestationPolicies = new AttestationPolicyStore(st.storage);
      await attestationPolicies.installDefaults();
      rvps = new ReferenceValues(st.storage);
      const registry = new VerifierRegistry();
      const hw = await loadHardwareVerifiers(registry, asCfg.verifiers, (m) => log.log('warn', m));
      for (const v of opts.verifiers ?? []) registry.register(v);
      log.log('info', 'attestation service ready', { verifiers: registry.tees(), hardware: hw });
      as = new AttestationService(registry, attestationPolicies, rvps, signer, asCfg.broker, clock);
    }
    const tokens = new TokenVerifier(config.attestationToken, signer, clock);
    await tokens.init();
    const admin = await AdminAuthorizer.create(config.admin);
    if (config.admin.mode === 'InsecureAllowAll')
      log.log('warn', 'admin API is open to anyone (InsecureAllowAll)');
    if (config.attestationToken.insecureHeaderJwk)
      log.log('warn', 'insecure_header_jwk = true: any self-signed token is accepted');
    const sessions = new Sessions(st.sessions, timeoutMin * 60_000, clock);
    const jwe = new JwePool(config.httpServer.cryptoWorkers ?? defaultWorkerCount());
    jwe.onDegraded = (why) => log.log('error', 'JWE worker pool degraded', { why });
    sessions.startSweeper(60_000, (e) =>
      log.log('warn', 'session sweep failed', { code: (e as { code?: string }).code }),
    );
    const deps: KbsDeps = {
      config,
      storage: st.storage,
      sessions,
      as,
      attestationPolicies,
      rvps,
      resourcePolicies,
      tokens,
      admin,
      audit: st.audit,
      auditBatch: st.audit ? new AuditBatcher(st.audit) : undefined,
      metrics: new KbsMetrics(),
      log,
      jwe,
      clock,
      resourcePlugin: config.plugins.some((p) => p.name === 'resource'),
    };
    return {
      deps,
      close: async () => {
        sessions.stop();
        await jwe.close();
        await closeStorage();
      },
    };
  } catch (e) {
    await closeStorage();
    throw e;
  }
}

function makeHandler(deps: KbsDeps) {
  const { log, metrics, config } = deps;
  const limit = config.httpServer.payloadLimitBytes;
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const t0 = performance.now();
    const target = req.url ?? '/';
    const qi = target.indexOf('?');
    const path = qi < 0 ? target : target.slice(0, qi);
    const method = req.method ?? 'GET';
    let reply: Reply;
    let ctx: RequestCtx | undefined;
    let errType: string | undefined;
    try {
      if (path === '/healthz') {
        reply = method === 'GET' || method === 'HEAD' ? HEALTH : errorReply(errors.methodNotAllowed());
      } else if (path === '/metrics') {
        reply =
          method === 'GET'
            ? {
                status: 200,
                headers: { 'content-type': metrics.registry.contentType },
                body: await metrics.text(),
              }
            : errorReply(errors.methodNotAllowed());
      } else if (!path.startsWith('/kbs/v0/') && path !== '/kbs/v0') {
        throw new KbsError('INVALID_REQUEST_PATH', `Invalid request path ${path.slice(0, 200)}`);
      } else if (method !== 'GET' && method !== 'POST' && method !== 'PUT' && method !== 'DELETE') {
        throw errors.methodNotAllowed();
      } else {
        const body = hasBody(req) ? await readBody(req, limit) : EMPTY_BODY;
        let conn = conns.get(req.socket);
        if (!conn) {
          conn = {};
          conns.set(req.socket, conn);
        }
        ctx = {
          method,
          target,
          segments: path.length > 8 ? path.slice(8).split('/') : [],
          query: qi < 0 ? {} : queryMap(target.slice(qi + 1)),
          headers: req.headers,
          body,
          conn,
        };
        reply = await dispatch(deps, ctx);
      }
    } catch (e) {
      let ke: KbsError;
      if (e instanceof KbsError) ke = e;
      else {
        log.log('error', 'unhandled error', { path, error: e instanceof Error ? e.message : String(e) });
        ke = new KbsError('INTERNAL', 'Internal error');
      }
      errType = ke.variant;
      reply = errorReply(ke);
      if (ke.message !== ke.detail)
        log.log('debug', 'request failed', { path, type: ke.variant, why: ke.message });
    }
    send(res, reply);
    const ms = performance.now() - t0;
    if (ctx) metrics.latency.observe(ROUTE_LABELS[routeLabel(ctx.segments[0])], ms / 1000);
    if (log.level === 'debug' || log.level === 'info') {
      const fields: Record<string, unknown> = {
        method,
        path: path.length > 256 ? `${path.slice(0, 256)}…` : path,
        status: reply.status,
        duration_ms: Math.round(ms * 1000) / 1000,
      };
      if (ctx?.sessionPrefix) fields.session = ctx.sessionPrefix;
      if (errType) fields.error = errType;
      log.log('info', 'request', fields);
    }
  };
}

function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** Starts a KBS from a validated config (or a config file path). */
export async function startKbs(config: KbsConfig | string, opts: StartKbsOptions = {}): Promise<RunningKbs> {
  const cfg = typeof config === 'string' ? loadConfigFile(config) : config;
  const log =
    typeof opts.logger === 'object'
      ? opts.logger
      : createLogger(opts.logger ?? parseLogLevel(process.env.KBS_LOG_LEVEL));
  const { deps, close: closeDeps } = await buildDeps(cfg, opts, log);
  const hs = cfg.httpServer;
  let tls: { key: Buffer; cert: Buffer } | undefined;
  try {
    if (!hs.insecureHttp) {
      tls = { key: readFileSync(hs.privateKey!), cert: readFileSync(hs.certificate!) };
    }
  } catch (e) {
    await closeDeps();
    throw errors.config(
      `kbs config: cannot read the TLS key or certificate: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  const handler = makeHandler(deps);
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    handler(req, res).catch((e) => {
      log.log('error', 'response failed', { error: (e as Error).message });
      res.destroy();
    });
  };
  // 128 KiB headers like upstream: verbose EAR tokens travel as Bearer headers.
  const serverOpts = { maxHeaderSize: 128 * 1024, requestTimeout: 60_000, keepAliveTimeout: 65_000 };
  const servers: Server[] = [];
  const urls: string[] = [];
  let firstPort = 0;
  try {
    for (const s of hs.sockets) {
      const server = tls
        ? https.createServer(
            { ...serverOpts, key: tls.key, cert: tls.cert, minVersion: 'TLSv1.2' },
            onRequest,
          )
        : http.createServer(serverOpts, onRequest);
      server.keepAliveTimeout = 65_000;
      const addr = await listen(server, s.host, s.port);
      servers.push(server);
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      urls.push(`${tls ? 'https' : 'http'}://${host}:${addr.port}`);
      if (!firstPort) firstPort = addr.port;
    }
  } catch (e) {
    for (const s of servers) s.close();
    await closeDeps();
    throw errors.config(`kbs: cannot listen: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  log.log('info', 'kbs started', { urls, tls: !!tls, admin: cfg.admin.mode, as: !!cfg.attestationService });
  let closing: Promise<void> | undefined;
  return {
    url: urls[0],
    urls,
    port: firstPort,
    config: cfg,
    storage: deps.storage,
    metrics: deps.metrics,
    close() {
      closing ??= (async () => {
        await Promise.all(
          servers.map(
            (s) =>
              new Promise<void>((resolve) => {
                s.close(() => resolve());
                s.closeAllConnections();
              }),
          ),
        );
        await closeDeps();
        log.flush();
      })();
      return closing;
    },
  };
}
