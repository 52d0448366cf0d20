import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { vector } from '../../../test/helpers/paths.js';
import { AttestationError } from '../errors.js';
import { parseBundle } from './collateral-store.js';
import { pccsBase } from './pccs.js';
import { TdxVerifier } from './verifier.js';

/*
 * The PCCS client against a loopback HTTP server that serves the phala-v4-uptodate collateral the
 * way Intel PCS v4 does (JSON bodies with the signed member, URL-encoded issuer chains in headers).
 */

const bundle = JSON.parse(readFileSync(vector('tee', 'tdx', 'phala-v4-uptodate', 'collateral.json'), 'utf8'));
const quote = readFileSync(vector('tee', 'tdx', 'phala-v4-uptodate', 'quote.bin'));
const now = new Date('2025-07-01T00:00:00Z');

let server: Server;
let base: string;
let requests: string[] = [];
let tamper = false;
let down = false;

function respond(
  path: string,
  query: URLSearchParams,
): { status: number; body: string | Buffer; headers?: Record<string, string> } {
  if (down) return { status: 503, body: '' };
  switch (path) {
    case '/tdx/certification/v4/tcb': {
      if (query.get('fmspc') !== 'B0C06F000000') return { status: 404, body: '' };
      const tcb = tamper ? bundle.tcb_info.replace('"tcbType":0', '"tcbType":1') : bundle.tcb_info;
      return {
        status: 200,
        // Deliberately spaced differently from a re-serialization: the inner bytes must be kept verbatim.
        body: `{"tcbInfo":${tcb},  "signature":"${bundle.tcb_info_signature}"}`,
        headers: { 'TCB-Info-Issuer-Chain': encodeURIComponent(bundle.tcb_info_issuer_chain) },
      };
    }
    case '/tdx/certification/v4/qe/identity':
      return {
        status: 200,
        body: `{"enclaveIdentity":${bundle.qe_identity},"signature":"${bundle.qe_identity_signature}"}`,
        headers: { 'SGX-Enclave-Identity-Issuer-Chain': encodeURIComponent(bundle.qe_identity_issuer_chain) },
      };
    case '/sgx/certification/v4/pckcrl':
      if (query.get('ca') !== 'platform' || query.get('encoding') !== 'der') return { status: 400, body: '' };
      return {
        status: 200,
        body: Buffer.from(bundle.pck_crl, 'hex'),
        headers: { 'SGX-PCK-CRL-Issuer-Chain': encodeURIComponent(bundle.pck_crl_issuer_chain) },
      };
    case '/sgx/certification/v4/rootcacrl':
      return { status: 200, body: bundle.root_ca_crl };
    default:
      return { status: 404, body: '' };
  }
}

before(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    requests.push(url.pathname);
    const r = respond(url.pathname, url.searchParams);
    res.writeHead(r.status, r.headers);
    res.end(r.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sgx/certification/v4/`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'cocoseal-pccs-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

beforeEach(() => {
  requests = [];
  tamper = false;
  down = false;
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AttestationError, `unexpected ${String(e)}`);
    return e.code;
  }
  return 'OK';
}

describe('TDX collateral from a PCCS', () => {
  test('fetched when configured, verified, then kept on disk and reused without refetching', async () => {
    const dir = tempDir();
    const v = new TdxVerifier({ pccsUrl: base, collateralDir: dir });
    const claims = await v.verify(quote, { now });
    assert.equal(claims.tcb_status, 'UpToDate');
    assert.deepEqual(requests.sort(), [
      '/sgx/certification/v4/pckcrl',
      '/sgx/certification/v4/rootcacrl',
      '/tdx/certification/v4/qe/identity',
      '/tdx/certification/v4/tcb',
    ]);
    const stored = join(dir, 'b0c06f000000', 'collateral.json');
    assert.ok(existsSync(stored));
    // The stored bundle keeps the exact signed bytes.
    assert.equal(parseBundle(readFileSync(stored), stored).tcbInfo.body.toString('utf8'), bundle.tcb_info);

    requests = [];
    await v.verify(quote, { now });
    // A fresh verifier with only the cache directory (PCCS unreachable) still verifies.
    down = true;
    await new TdxVerifier({ pccsUrl: base, collateralDir: dir }).verify(quote, { now });
    assert.deepEqual(requests, []);
  });

  test('never contacted unless configured', async () => {
    const v = new TdxVerifier({ collateralDir: tempDir() });
    assert.equal(await codeOf(v.verify(quote, { now })), 'COLLATERAL_MISSING');
    assert.deepEqual(requests, []);
  });

  test('fetched collateral is verified like any other, and not stored when it fails', async () => {
    tamper = true;
    const dir = tempDir();
    assert.equal(
      await codeOf(new TdxVerifier({ pccsUrl: base, collateralDir: dir }).verify(quote, { now })),
      'SIGNATURE_INVALID',
    );
    assert.ok(!existsSync(join(dir, 'b0c06f000000')));
  });

  test('an unreachable PCCS without a cached copy is COLLATERAL_MISSING', async () => {
    down = true;
    assert.equal(
      await codeOf(new TdxVerifier({ pccsUrl: base }).verify(quote, { now })),
      'COLLATERAL_MISSING',
    );
  });

  test('the URL must be https, or http to loopback', () => {
    assert.equal(
      pccsBase('https://api.trustedservices.intel.com/sgx/certification/v4/').href,
      'https://api.trustedservices.intel.com/',
    );
    assert.equal(pccsBase('http://localhost:8081/x').href, 'http://localhost:8081/');
    assert.throws(
      () => pccsBase('http://pccs.example.com/'),
      (e: AttestationError) => e.code === 'COLLATERAL_MISSING',
    );
    assert.throws(
      () => pccsBase('not a url'),
      (e: AttestationError) => e.code === 'COLLATERAL_MISSING',
    );
  });
});
