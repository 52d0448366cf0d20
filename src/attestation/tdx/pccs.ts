import { AttestationError } from '../errors.js';
import type { RawCollateral } from './collateral.js';
import { splitSignedResponse } from './collateral.js';
import type { CollateralQuery } from './collateral-store.js';
import { crlBytes } from './collateral-store.js';

/*
 * Collateral from Intel PCS or a PCCS (tee-evidence.md §2.6). Contacted only when a URL is configured.
 * Like Trustee, the configured URL's path is ignored and the v4 endpoints are built from its origin,
 * so the same setting (e.g. `https://api.trustedservices.intel.com/sgx/certification/v4/`) works.
 * Nothing fetched is trusted: every item is verified against the pinned root afterwards.
 */

const INTEL_PCS_HOST = 'api.trustedservices.intel.com';
const INTEL_ROOT_CRL_URL = 'https://certificates.trustedservices.intel.com/IntelSGXRootCA.der';
const MAX_BODY = 1 << 20;

export interface PccsOptions {
  url: string;
  /** `early` (Trustee's default) or `standard` TCB-recovery updates. */
  updateType?: 'early' | 'standard';
  timeoutMs?: number;
  fetch?: typeof fetch;
}

function fail(code: 'COLLATERAL_MISSING' | 'COLLATERAL_INVALID', msg: string): AttestationError {
  return new AttestationError(code, msg);
}

function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/** Validates the configured URL: https, or http to a loopback address only. */
export function pccsBase(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw fail('COLLATERAL_MISSING', `PCCS URL "${url}" is not a URL`);
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && isLoopback(u.hostname))) {
    throw fail(
      'COLLATERAL_MISSING',
      `PCCS URL must use https (plain http is allowed for loopback only): ${u.origin}`,
    );
  }
  return new URL('/', u.origin);
}

interface Fetched {
  body: Buffer;
  headers: Headers;
}

async function get(opts: PccsOptions, url: URL): Promise<Fetched> {
  const f = opts.fetch ?? fetch;
  let res: Response;
  try {
    res = await f(url, {
      redirect: 'error',
      signal: AbortSignal.timeout(opts.timeoutMs ?? 10_000),
      headers: { accept: '*/*' },
    });
  } catch (e) {
    throw fail(
      'COLLATERAL_MISSING',
      `PCCS request ${url.origin}${url.pathname} failed: ${(e as Error).message}`,
    );
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw fail('COLLATERAL_MISSING', `PCCS ${url.origin}${url.pathname} answered HTTP ${res.status}`);
  }
  const body = Buffer.from(await res.arrayBuffer());
  if (body.length > MAX_BODY) throw fail('COLLATERAL_INVALID', `PCCS ${url.pathname}: response too large`);
  return { body, headers: res.headers };
}

function chainHeader(f: Fetched, names: string[], what: string): string {
  for (const n of names) {
    const v = f.headers.get(n);
    if (v) {
      try {
        return decodeURIComponent(v);
      } catch {
        throw fail('COLLATERAL_INVALID', `${what}: header ${n} is not URL-encoded PEM`);
      }
    }
  }
  throw fail('COLLATERAL_INVALID', `${what}: response has no ${names[0]} header`);
}

/** Fetches TCB info, QE identity, the PCK CRL for the CA type and the root CA CRL. */
export async function fetchCollateral(opts: PccsOptions, q: CollateralQuery): Promise<RawCollateral> {
  const base = pccsBase(opts.url);
  const update = opts.updateType ?? 'early';
  const isIntel = base.hostname === INTEL_PCS_HOST;

  const tcbUrl = new URL('tdx/certification/v4/tcb', base);
  tcbUrl.searchParams.set('fmspc', q.fmspc.toUpperCase());
  tcbUrl.searchParams.set('update', update);
  const qeUrl = new URL('tdx/certification/v4/qe/identity', base);
  qeUrl.searchParams.set('update', update);
  const crlUrl = new URL('sgx/certification/v4/pckcrl', base);
  crlUrl.searchParams.set('ca', q.caType);
  crlUrl.searchParams.set('encoding', 'der');
  // Intel PCS serves the root CRL at its distribution point; a PCCS serves it (hex) itself.
  const rootUrl = isIntel ? new URL(INTEL_ROOT_CRL_URL) : new URL('sgx/certification/v4/rootcacrl', base);

  const [tcb, qe, crl, root] = await Promise.all([
    get(opts, tcbUrl),
    get(opts, qeUrl),
    get(opts, crlUrl),
    get(opts, rootUrl),
  ]);
  const origin = base.origin;
  return {
    tcbInfo: {
      ...splitSignedResponse(tcb.body, 'tcbInfo', `${origin} (TCB info)`),
      issuerChainPem: chainHeader(tcb, ['TCB-Info-Issuer-Chain', 'SGX-TCB-Info-Issuer-Chain'], 'TCB info'),
    },
    qeIdentity: {
      ...splitSignedResponse(qe.body, 'enclaveIdentity', `${origin} (QE identity)`),
      issuerChainPem: chainHeader(qe, ['SGX-Enclave-Identity-Issuer-Chain'], 'QE identity'),
    },
    pckCrl: crlBytes(crl.body, 'PCK CRL'),
    pckCrlIssuerChainPem: chainHeader(crl, ['SGX-PCK-CRL-Issuer-Chain'], 'PCK CRL'),
    rootCaCrl: crlBytes(root.body, 'root CA CRL'),
    origin,
  };
}
