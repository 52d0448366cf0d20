import { X509Certificate } from 'node:crypto';
import { AttestationError } from '../errors.js';
import { pemBlocks } from '../x509.js';
import { DigestCache, digestOf } from './cache.js';

/*
 * Intel certificate chains (PCK chain in the quote; TCB Signing and PCK CRL issuer chains in the
 * collateral). Signatures are checked once per distinct chain (cached by digest); validity windows
 * are checked on every call, at the injected "now".
 */

export interface VerifiedChain {
  /** Leaf first, pinned root last. */
  certs: X509Certificate[];
  notBefore: Date[];
  notAfter: Date[];
}

const chains = new DigestCache<VerifiedChain>(512);

function name(cert: X509Certificate): string {
  return cert.subject.replace(/\n/g, ', ');
}

function parsePem(pem: string, what: string): X509Certificate[] {
  const blocks = pemBlocks(pem);
  if (blocks.length === 0) throw new AttestationError('CHAIN_INVALID', `${what}: no PEM certificate found`);
  return blocks.map((der, i) => {
    try {
      return new X509Certificate(der);
    } catch (e) {
      throw new AttestationError('CHAIN_INVALID', `${what}: certificate ${i + 1} is not valid DER`, {
        cause: e,
      });
    }
  });
}

function verifySignatures(certs: X509Certificate[], root: X509Certificate, what: string): VerifiedChain {
  const last = certs[certs.length - 1];
  if (!last.raw.equals(root.raw)) {
    throw new AttestationError(
      'CHAIN_INVALID',
      `${what}: chain does not end at the pinned ${name(root)} (got "${name(last)}")`,
    );
  }
  for (let i = 0; i < certs.length; i++) {
    const cert = certs[i];
    const issuer = certs[Math.min(i + 1, certs.length - 1)];
    let ok = false;
    try {
      ok = cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
    } catch {
      ok = false;
    }
    if (!ok)
      throw new AttestationError(
        'CHAIN_INVALID',
        `${what}: certificate "${name(cert)}" is not signed by its issuer`,
      );
    if (i < certs.length - 1 && !issuer.ca) {
      throw new AttestationError(
        'CHAIN_INVALID',
        `${what}: issuer "${name(issuer)}" is not a CA certificate`,
      );
    }
  }
  return {
    certs,
    notBefore: certs.map((c) => new Date(c.validFrom)),
    notAfter: certs.map((c) => new Date(c.validTo)),
  };
}

/** Throws CERT_EXPIRED unless every certificate of the chain is valid at `now`. */
export function checkChainTime(chain: VerifiedChain, now: Date, what: string): void {
  for (let i = 0; i < chain.certs.length; i++) {
    if (now < chain.notBefore[i] || now > chain.notAfter[i]) {
      const c = chain.certs[i];
      throw new AttestationError(
        'CERT_EXPIRED',
        `${what}: certificate "${name(c)}" is not valid at ${now.toISOString()} (valid ${chain.notBefore[i].toISOString()} to ${chain.notAfter[i].toISOString()})`,
      );
    }
  }
}

/**
 * Parses a PEM chain (leaf first), checks that it ends at the pinned `root`, that each certificate is
 * issued and signed by the next, and that each is valid at `now`. `expectedLength` pins the shape.
 */
export function verifyPemChain(
  pem: string,
  root: X509Certificate,
  now: Date,
  what: string,
  expectedLength?: number,
): VerifiedChain {
  const key = digestOf(pem, root.raw);
  let chain = chains.get(key);
  if (!chain) {
    const certs = parsePem(pem, what);
    if (expectedLength !== undefined && certs.length !== expectedLength) {
      throw new AttestationError(
        'CHAIN_INVALID',
        `${what}: expected ${expectedLength} certificates, found ${certs.length}`,
      );
    }
    chain = verifySignatures(certs, root, what);
    chains.set(key, chain);
  } else if (expectedLength !== undefined && chain.certs.length !== expectedLength) {
    throw new AttestationError(
      'CHAIN_INVALID',
      `${what}: expected ${expectedLength} certificates, found ${chain.certs.length}`,
    );
  }
  checkChainTime(chain, now, what);
  return chain;
}

/** For tests and benchmarks: forget every verified chain. */
export function clearChainCache(): void {
  chains.clear();
}
