import { X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import { AttestationError } from './errors.js';

/*
 * Certificate helpers shared by the TEE verifiers. Signature checks go through OpenSSL
 * (X509Certificate.verify handles ECDSA and RSASSA-PSS); asn1js only reads extensions.
 */

/** DER blocks of every `-----BEGIN <label>-----` section in a PEM text, in order. */
export function pemBlocks(pem: string, label = 'CERTIFICATE'): Buffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, 'g');
  return [...pem.matchAll(re)].map((m) => Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
}

/** Parses a PEM bundle or a single DER certificate. */
export function parseCertificates(data: string | Uint8Array): X509Certificate[] {
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('latin1');
  if (text.includes('-----BEGIN CERTIFICATE-----')) return pemBlocks(text).map((d) => new X509Certificate(d));
  try {
    return [new X509Certificate(Buffer.from(data as Uint8Array))];
  } catch (e) {
    throw new AttestationError('CHAIN_INVALID', 'certificate is neither PEM nor DER', { cause: e });
  }
}

function within(cert: X509Certificate, now: Date): boolean {
  return now >= new Date(cert.validFrom) && now <= new Date(cert.validTo);
}

/**
 * Checks `chain` (leaf first, trust anchor last): each certificate is issued and signed by the next,
 * the anchor is self-signed, and every certificate is valid at `now`. `anchor` must be a certificate
 * the caller trusts (shipped with the package), compared by DER bytes.
 */
export function verifyCertChain(
  chain: X509Certificate[],
  anchor: X509Certificate,
  now: Date,
  what: string,
): void {
  if (chain.length === 0) throw new AttestationError('CHAIN_INVALID', `${what}: empty certificate chain`);
  const root = chain[chain.length - 1];
  if (!root.raw.equals(anchor.raw)) {
    throw new AttestationError(
      'CHAIN_INVALID',
      `${what}: chain does not end at the trusted root ${anchor.subject.replace(/\n/g, ', ')}`,
    );
  }
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i];
    const issuer = chain[Math.min(i + 1, chain.length - 1)];
    const name = cert.subject.replace(/\n/g, ', ');
    if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
      throw new AttestationError(
        'CHAIN_INVALID',
        `${what}: certificate "${name}" is not signed by its issuer`,
      );
    }
    if (!within(cert, now)) {
      throw new AttestationError(
        'CERT_EXPIRED',
        `${what}: certificate "${name}" is not valid at ${now.toISOString()} (valid ${cert.validFrom} to ${cert.validTo})`,
      );
    }
  }
}

/** The contents of extension `oid`'s extnValue OCTET STRING, or undefined when absent. */
export function certExtension(cert: X509Certificate, oid: string): Uint8Array | undefined {
  const parsed = asn1js.fromBER(new Uint8Array(cert.raw));
  if (parsed.offset === -1) throw new AttestationError('CHAIN_INVALID', 'certificate DER is malformed');
  const tbs = (parsed.result as asn1js.Sequence).valueBlock.value[0] as asn1js.Sequence;
  for (const field of tbs.valueBlock.value) {
    // Extensions are the [3] EXPLICIT context-tagged field of TBSCertificate.
    if (field.idBlock.tagClass !== 3 || field.idBlock.tagNumber !== 3) continue;
    const exts = (field as asn1js.Constructed).valueBlock.value[0] as asn1js.Sequence;
    for (const ext of exts.valueBlock.value as asn1js.Sequence[]) {
      const parts = ext.valueBlock.value;
      const id = (parts[0] as asn1js.ObjectIdentifier).valueBlock.toString();
      if (id !== oid) continue;
      const value = parts[parts.length - 1] as asn1js.OctetString;
      return new Uint8Array(value.valueBlock.valueHexView);
    }
  }
  return undefined;
}
