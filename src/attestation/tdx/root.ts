import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AttestationError } from '../errors.js';
import { pemBlocks } from '../x509.js';

/*
 * The trust anchor: the Intel SGX Root CA shipped as assets/tdx/intel_sgx_root_ca.pem. The shipped
 * file is also pinned here by fingerprint, so a modified asset is refused rather than trusted.
 */

/** SHA-256 of the Intel SGX Root CA certificate (tee-evidence.md §2.5). */
export const INTEL_SGX_ROOT_CA_SHA256 = '44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3';

function assetPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const p = join(dir, 'assets', 'tdx', 'intel_sgx_root_ca.pem');
    if (existsSync(p)) return p;
    const up = dirname(dir);
    if (up === dir)
      throw new AttestationError(
        'CHAIN_INVALID',
        'assets/tdx/intel_sgx_root_ca.pem not found in the package',
      );
    dir = up;
  }
}

let shipped: X509Certificate | undefined;
const custom = new Map<string, X509Certificate>();

/** The shipped Intel SGX Root CA (fingerprint-checked). */
export function intelSgxRootCa(): X509Certificate {
  if (shipped) return shipped;
  const cert = parseRoot(readFileSync(assetPath(), 'latin1'));
  const fp = createHash('sha256').update(cert.raw).digest('hex');
  if (fp !== INTEL_SGX_ROOT_CA_SHA256) {
    throw new AttestationError(
      'CHAIN_INVALID',
      `the shipped Intel SGX Root CA has fingerprint ${fp}, expected ${INTEL_SGX_ROOT_CA_SHA256}`,
    );
  }
  shipped = cert;
  return cert;
}

function parseRoot(pem: string): X509Certificate {
  const blocks = pemBlocks(pem);
  if (blocks.length !== 1)
    throw new AttestationError(
      'CHAIN_INVALID',
      `root CA PEM must hold exactly one certificate, found ${blocks.length}`,
    );
  const cert = new X509Certificate(blocks[0]);
  if (!cert.ca || !cert.checkIssued(cert) || !cert.verify(cert.publicKey)) {
    throw new AttestationError('CHAIN_INVALID', 'root CA is not a self-signed CA certificate');
  }
  return cert;
}

/** The configured root (a PEM given by the operator, e.g. for tests), or the shipped one. */
export function rootCa(pem?: string): X509Certificate {
  if (pem === undefined) return intelSgxRootCa();
  let cert = custom.get(pem);
  if (!cert) {
    cert = parseRoot(pem);
    custom.set(pem, cert);
  }
  return cert;
}

/** Trustee's `root_key_id`: SHA-384 of the root's uncompressed EC point (04 ‖ x ‖ y). */
export function rootKeyId(root: X509Certificate): string {
  let id = keyIds.get(root);
  if (!id) {
    const spki = root.publicKey.export({ type: 'spki', format: 'der' });
    id = createHash('sha384')
      .update(spki.subarray(spki.length - 65))
      .digest('hex');
    keyIds.set(root, id);
  }
  return id;
}

const keyIds = new WeakMap<X509Certificate, string>();
