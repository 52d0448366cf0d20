import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TeePublicJwk } from '../../crypto/jwe.js';
import { configFromObject } from '../config/config.js';
import { buildCertificate } from '../init/x509.js';
import { bindingHash, primaryRuntimeData, runtimeDataDigest } from '../rcar/runtime-data.js';
import { type RunningKbs, type StartKbsOptions, startKbs } from '../server.js';

/*
 * Test support for KBS suites (ours and the client's end-to-end tests): a KBS on loopback port 0 with
 * a fresh TLS certificate, an admin identity, a tiny HTTPS client and a sample attester.
 */

export interface HttpResult {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text(): string;
  json(): unknown;
}

export interface TestKbs extends RunningKbs {
  dir: string;
  /** TLS certificate PEM (trust anchor for clients). */
  caPem: string;
  /** A valid admin token (role `admin`) when the admin mode is Authenticated. */
  adminToken?: string;
  adminKey?: KeyObject;
  request(
    method: string,
    path: string,
    opts?: { body?: string | Buffer | object; headers?: Record<string, string> },
  ): Promise<HttpResult>;
  /** Stops the server and removes the temp dir. */
  stop(): Promise<void>;
}

export interface TestKbsOptions {
  admin?: 'InsecureAllowAll' | 'DenyAll' | 'Authenticated';
  /** Extra/overriding config tables (merged shallowly per top-level table). */
  config?: Record<string, Record<string, unknown> | unknown[]>;
  insecureHttp?: boolean;
  /** Omit the built-in AS (passport resource KBS). */
  noAttestationService?: boolean;
  /** Reuse a directory (e.g. to restart on the same SQLite file). */
  dir?: string;
  start?: StartKbsOptions;
}

export function signJwt(key: KeyObject, alg: string, payload: object, header: object = {}): string {
  const h = { alg, typ: 'JWT', ...header };
  const input = `${Buffer.from(JSON.stringify(h)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const sig =
    alg === 'EdDSA'
      ? sign(null, Buffer.from(input), key)
      : sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

export function adminJwt(key: KeyObject, claims: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  return signJwt(key, 'EdDSA', {
    iss: 'test-issuer',
    aud: ['kbs'],
    role: 'admin',
    iat: now,
    exp: now + 3600,
    ...claims,
  });
}

export async function startTestKbs(opts: TestKbsOptions = {}): Promise<TestKbs> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'kbs-test-'));
  const tls = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const caPem = buildCertificate({
    subjectCn: 'kbs test',
    publicKey: tls.publicKey,
    issuerKey: tls.privateKey,
    days: 2,
    san: ['127.0.0.1', 'localhost'],
  });
  writeFileSync(join(dir, 'tls.crt'), caPem);
  writeFileSync(join(dir, 'tls.key'), tls.privateKey.export({ format: 'pem', type: 'pkcs8' }), {
    mode: 0o600,
  });
  const mode = opts.admin ?? 'InsecureAllowAll';
  let adminKey: KeyObject | undefined;
  let admin: Record<string, unknown>;
  if (mode === 'Authenticated') {
    const k = generateKeyPairSync('ed25519');
    adminKey = k.privateKey;
    writeFileSync(join(dir, 'admin.pub'), k.publicKey.export({ format: 'pem', type: 'spki' }));
    admin = {
      authorization_mode: 'AuthenticatedAuthorization',
      authentication: {
        bearer_jwt: {
          identity_providers: [
            { issuer: 'test-issuer', audience: 'kbs', public_key_uri: join(dir, 'admin.pub') },
          ],
        },
      },
      authorization: { regex_acl: { acls: [{ role: 'admin', allowed_endpoints: '^/kbs/v0/.+$' }] } },
    };
  } else {
    admin = { authorization_mode: mode };
  }
  const doc: Record<string, unknown> = {
    http_server: opts.insecureHttp
      ? { sockets: ['127.0.0.1:0'], insecure_http: true }
      : { sockets: ['127.0.0.1:0'], private_key: join(dir, 'tls.key'), certificate: join(dir, 'tls.crt') },
    attestation_token: {},
    attestation_service: opts.noAttestationService ? { type: 'none' } : { type: 'coco_as_builtin' },
    admin,
    storage_backend: { storage_type: 'Memory' },
    plugins: [{ name: 'resource' }],
  };
  for (const [k, v] of Object.entries(opts.config ?? {})) {
    doc[k] = Array.isArray(v) ? v : { ...(doc[k] as Record<string, unknown>), ...v };
  }
  const config = configFromObject(doc, dir);
  const kbs = await startKbs(config, {
    logger: (process.env.KBS_TEST_LOG as 'debug' | undefined) ?? 'off',
    ...opts.start,
  });
  const agent = opts.insecureHttp
    ? new http.Agent({ keepAlive: true })
    : new https.Agent({ keepAlive: true, ca: caPem });
  const request: TestKbs['request'] = (method, path, o = {}) =>
    new Promise((resolve, reject) => {
      const body =
        o.body === undefined
          ? undefined
          : typeof o.body === 'string' || Buffer.isBuffer(o.body)
            ? o.body
            : JSON.stringify(o.body);
      const headers: Record<string, string | number> = { ...o.headers };
      if (body !== undefined) {
        headers['content-length'] = Buffer.byteLength(body);
        headers['content-type'] ??= 'application/json';
      }
      // The path goes out verbatim (no URL normalization), so tests can send `..` segments.
      const u = new URL(kbs.url);
      const req = (opts.insecureHttp ? http : https).request(
        { method, hostname: u.hostname, port: u.port, path, headers, agent },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            const b = Buffer.concat(chunks);
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: b,
              text: () => b.toString('utf8'),
              json: () => JSON.parse(b.toString('utf8')),
            });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  return {
    ...kbs,
    dir,
    caPem,
    adminKey,
    adminToken: adminKey ? adminJwt(adminKey) : undefined,
    request,
    async stop() {
      agent.destroy();
      await kbs.close();
      if (!opts.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A TEE key pair and its protocol JWK. */
export function teeKeyPair(kind: 'P-256' | 'P-521' | 'RSA' = 'P-256'): {
  privateKey: KeyObject;
  jwk: TeePublicJwk;
} {
  if (kind === 'RSA') {
    const k = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const j = k.publicKey.export({ format: 'jwk' });
    return { privateKey: k.privateKey, jwk: { kty: 'RSA', alg: 'RSA-OAEP-256', n: j.n!, e: j.e! } };
  }
  const k = generateKeyPairSync('ec', { namedCurve: kind });
  const j = k.publicKey.export({ format: 'jwk' });
  return { privateKey: k.privateKey, jwk: { kty: 'EC', crv: kind, alg: 'ECDH-ES+A256KW', x: j.x!, y: j.y! } };
}

/** The `/attest` body a sample guest sends for `nonce` (optionally with a sampledevice and init-data). */
export function sampleAttestBody(
  nonce: string,
  jwk: TeePublicJwk,
  opts: { device?: boolean; initData?: string; svn?: string } = {},
): Record<string, unknown> {
  let additional = '';
  if (opts.device) {
    const d = runtimeDataDigest({ nonce, 'tee-pubkey': jwk }, 'sha384');
    additional = JSON.stringify({ sampledevice: { svn: '2', report_data: d.toString('base64') } });
  }
  const p = runtimeDataDigest(primaryRuntimeData(nonce, jwk, additional), bindingHash('sample'));
  return {
    ...(opts.initData !== undefined ? { 'init-data': { format: 'toml', body: opts.initData } } : {}),
    'runtime-data': { nonce, 'tee-pubkey': jwk },
    'tee-evidence': {
      primary_evidence: { svn: opts.svn ?? '1', report_data: p.toString('base64') },
      additional_evidence: additional,
    },
  };
}

/** Runs RCAR with the sample TEE. Returns the token and the session cookie. */
export async function sampleAttest(
  kbs: TestKbs,
  jwk: TeePublicJwk,
  opts: Parameters<typeof sampleAttestBody>[2] = {},
): Promise<{ token: string; cookie: string }> {
  const auth = await kbs.request('POST', '/kbs/v0/auth', {
    body: { version: '0.4.0', tee: 'sample', 'extra-params': { 'supported-hash-algorithms': ['sha384'] } },
  });
  if (auth.status !== 200) throw new Error(`auth failed: ${auth.status} ${auth.text()}`);
  const cookie = String(auth.headers['set-cookie']?.[0]).split(';')[0];
  const { nonce } = auth.json() as { nonce: string };
  const att = await kbs.request('POST', '/kbs/v0/attest', {
    body: sampleAttestBody(nonce, jwk, opts),
    headers: { cookie },
  });
  if (att.status !== 200) throw new Error(`attest failed: ${att.status} ${att.text()}`);
  return { token: (att.json() as { token: string }).token, cookie };
}

export function b64u(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64url');
}
