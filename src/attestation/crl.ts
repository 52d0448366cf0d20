import { constants, createPublicKey, type KeyObject, verify, type X509Certificate } from 'node:crypto';
import * as asn1js from 'asn1js';
import { AttestationError } from './errors.js';

/*
 * X.509 certificate revocation lists (RFC 5280 §5), as TEE verifiers need them: parse a DER CRL once,
 * verify its signature with the issuing CA's key, check its validity window at an injected "now", and
 * look certificates up by serial number. asn1js only tokenizes; the signed bytes are taken verbatim
 * (`valueBeforeDecode`), never re-encoded.
 */

const OID = {
  crlNumber: '2.5.29.20',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  ecdsaSha512: '1.2.840.10045.4.3.4',
  rsaSha256: '1.2.840.113549.1.1.11',
  rsaSha384: '1.2.840.113549.1.1.12',
  rsaSha512: '1.2.840.113549.1.1.13',
  rsaPss: '1.2.840.113549.1.1.10',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
} as const;

type SignatureScheme =
  | { kind: 'ecdsa'; hash: string }
  | { kind: 'rsa'; hash: string }
  | { kind: 'rsa-pss'; hash: string; saltLength: number };

export interface Crl {
  /** The DER as given. */
  readonly der: Buffer;
  /** DER of the issuer Name, compared byte for byte with the issuing certificate's subject. */
  readonly issuerDer: Buffer;
  readonly thisUpdate: Date;
  /** Absent only in CRLs that never expire (RFC 5280 allows it; Intel and AMD always set it). */
  readonly nextUpdate?: Date;
  /** The cRLNumber extension, when present. */
  readonly crlNumber?: bigint;
  /** Revoked serial numbers: lower-case hex without leading zeros. */
  readonly revoked: ReadonlySet<string>;
  readonly tbs: Buffer;
  readonly signature: Buffer;
  readonly scheme: SignatureScheme;
}

function malformed(what: string, detail: string): AttestationError {
  return new AttestationError('COLLATERAL_INVALID', `${what}: CRL is malformed (${detail})`);
}

function raw(node: asn1js.AsnType): Buffer {
  return Buffer.from((node as asn1js.BaseBlock).valueBeforeDecodeView);
}

function children(node: asn1js.AsnType | undefined): asn1js.AsnType[] {
  const block = node as asn1js.Constructed | undefined;
  return Array.isArray(block?.valueBlock?.value) ? (block.valueBlock.value as asn1js.AsnType[]) : [];
}

function oidOf(node: asn1js.AsnType | undefined): string {
  return node instanceof asn1js.ObjectIdentifier ? node.valueBlock.toString() : '';
}

function timeOf(node: asn1js.AsnType | undefined): Date | undefined {
  if (node instanceof asn1js.UTCTime || node instanceof asn1js.GeneralizedTime) return node.toDate();
  return undefined;
}

/** Lower-case hex of an unsigned serial number, leading zeros removed ("0" for zero). */
export function normalizeSerial(hex: string): string {
  const s = hex
    .toLowerCase()
    .replace(/[^0-9a-f]/g, '')
    .replace(/^0+/, '');
  return s === '' ? '0' : s;
}

function integerHex(node: asn1js.AsnType | undefined): string | undefined {
  if (!(node instanceof asn1js.Integer)) return undefined;
  return normalizeSerial(Buffer.from(node.valueBlock.valueHexView).toString('hex'));
}

function hashOid(oid: string): string | undefined {
  switch (oid) {
    case OID.sha1:
      return 'sha1';
    case OID.sha256:
      return 'sha256';
    case OID.sha384:
      return 'sha384';
    case OID.sha512:
      return 'sha512';
    default:
      return undefined;
  }
}

function signatureScheme(algId: asn1js.AsnType | undefined, what: string): SignatureScheme {
  const [oidNode, params] = children(algId);
  const oid = oidOf(oidNode);
  switch (oid) {
    case OID.ecdsaSha256:
      return { kind: 'ecdsa', hash: 'sha256' };
    case OID.ecdsaSha384:
      return { kind: 'ecdsa', hash: 'sha384' };
    case OID.ecdsaSha512:
      return { kind: 'ecdsa', hash: 'sha512' };
    case OID.rsaSha256:
      return { kind: 'rsa', hash: 'sha256' };
    case OID.rsaSha384:
      return { kind: 'rsa', hash: 'sha384' };
    case OID.rsaSha512:
      return { kind: 'rsa', hash: 'sha512' };
    case OID.rsaPss: {
      // RSASSA-PSS-params: [0] hashAlgorithm, [1] maskGenAlgorithm, [2] saltLength, [3] trailerField.
      // MGF1 is assumed to use the same hash (the only combination Node supports, and what AMD uses).
      let hash = 'sha1';
      let saltLength = 20;
      for (const field of children(params)) {
        const tag = field.idBlock.tagNumber;
        const inner = children(field)[0];
        if (field.idBlock.tagClass !== 3 || !inner) continue;
        if (tag === 0) hash = hashOid(oidOf(children(inner)[0])) ?? '';
        if (tag === 2 && inner instanceof asn1js.Integer) saltLength = inner.valueBlock.valueDec;
      }
      if (!hash) throw malformed(what, 'unsupported RSASSA-PSS hash');
      return { kind: 'rsa-pss', hash, saltLength };
    }
    default:
      throw malformed(what, `unsupported signature algorithm ${oid || '(none)'}`);
  }
}

/** Parses a DER CRL. Throws COLLATERAL_INVALID when it is not one. */
export function parseCrl(der: Uint8Array, what = 'CRL'): Crl {
  const buf = Buffer.from(der);
  const parsed = asn1js.fromBER(new Uint8Array(buf));
  if (parsed.offset === -1 || parsed.offset !== buf.length) throw malformed(what, 'not a single DER value');
  const [tbsNode, sigAlg, sigValue] = children(parsed.result);
  if (!(tbsNode instanceof asn1js.Sequence) || !(sigValue instanceof asn1js.BitString)) {
    throw malformed(what, 'not a CertificateList');
  }
  const fields = children(tbsNode);
  let i = 0;
  if (fields[i] instanceof asn1js.Integer) i++; // version v2
  const innerAlg = fields[i++];
  const issuer = fields[i++];
  const thisUpdate = timeOf(fields[i++]);
  let nextUpdate: Date | undefined = timeOf(fields[i]);
  if (nextUpdate) i++;
  if (!(issuer instanceof asn1js.Sequence) || !thisUpdate) throw malformed(what, 'bad issuer or thisUpdate');
  // The algorithm inside the signed part must equal the outer one (RFC 5280 §5.1.1.2).
  if (!raw(innerAlg).equals(raw(sigAlg)))
    throw malformed(what, 'inner and outer signature algorithms differ');

  const revoked = new Set<string>();
  let crlNumber: bigint | undefined;
  for (; i < fields.length; i++) {
    const field = fields[i];
    if (field instanceof asn1js.Sequence) {
      for (const entry of children(field)) {
        const serial = integerHex(children(entry)[0]);
        if (serial === undefined) throw malformed(what, 'revoked entry without a serial number');
        revoked.add(serial);
      }
    } else if (field.idBlock.tagClass === 3 && field.idBlock.tagNumber === 0) {
      for (const ext of children(children(field)[0])) {
        const parts = children(ext);
        if (oidOf(parts[0]) !== OID.crlNumber) continue;
        const value = parts[parts.length - 1];
        if (!(value instanceof asn1js.OctetString)) continue;
        const num = asn1js.fromBER(new Uint8Array(value.valueBlock.valueHexView)).result;
        const hex = integerHex(num);
        if (hex !== undefined) crlNumber = BigInt(`0x${hex}`);
      }
    }
  }
  if (nextUpdate && nextUpdate < thisUpdate) nextUpdate = undefined;

  const signature = Buffer.from(sigValue.valueBlock.valueHexView);
  return {
    der: buf,
    issuerDer: raw(issuer),
    thisUpdate,
    nextUpdate,
    crlNumber,
    revoked,
    tbs: raw(tbsNode),
    signature,
    scheme: signatureScheme(sigAlg, what),
  };
}

/** DER of a certificate's subject Name, for byte comparison with a CRL issuer. */
export function certSubjectDer(cert: X509Certificate): Buffer {
  const parsed = asn1js.fromBER(new Uint8Array(cert.raw));
  const tbs = children(children(parsed.result)[0]);
  // TBSCertificate: [0] version?, serialNumber, signature, issuer, validity, subject, ...
  const offset = tbs[0]?.idBlock.tagClass === 3 ? 1 : 0;
  const subject = tbs[offset + 4];
  if (!(subject instanceof asn1js.Sequence)) {
    throw new AttestationError('CHAIN_INVALID', 'certificate has no subject name');
  }
  return raw(subject);
}

/** True when `crl` carries a valid signature by `issuerKey`. Does not look at names or time. */
export function crlSignatureValid(crl: Crl, issuerKey: KeyObject | X509Certificate): boolean {
  const key = 'publicKey' in issuerKey ? issuerKey.publicKey : createPublicKey(issuerKey);
  try {
    switch (crl.scheme.kind) {
      case 'ecdsa':
        return verify(crl.scheme.hash, crl.tbs, { key, dsaEncoding: 'der' }, crl.signature);
      case 'rsa':
        return verify(crl.scheme.hash, crl.tbs, key, crl.signature);
      case 'rsa-pss':
        return verify(
          crl.scheme.hash,
          crl.tbs,
          { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: crl.scheme.saltLength },
          crl.signature,
        );
    }
  } catch {
    return false;
  }
}

/**
 * Checks that `crl` was issued and signed by `issuer` (name and signature). Throws CHAIN_INVALID for a
 * CRL of another CA and SIGNATURE_INVALID for a bad signature.
 */
export function verifyCrlIssuer(crl: Crl, issuer: X509Certificate, what = 'CRL'): void {
  if (!crl.issuerDer.equals(certSubjectDer(issuer))) {
    throw new AttestationError(
      'CHAIN_INVALID',
      `${what}: CRL issuer is not "${issuer.subject.replace(/\n/g, ', ')}"; supply the CRL of that CA`,
    );
  }
  if (!crlSignatureValid(crl, issuer)) {
    throw new AttestationError('SIGNATURE_INVALID', `${what}: CRL signature does not verify`);
  }
}

/** Throws COLLATERAL_EXPIRED unless thisUpdate <= now <= nextUpdate. */
export function checkCrlTime(crl: Crl, now: Date, what = 'CRL'): void {
  if (now < crl.thisUpdate || (crl.nextUpdate && now > crl.nextUpdate)) {
    throw new AttestationError(
      'COLLATERAL_EXPIRED',
      `${what}: CRL is not valid at ${now.toISOString()} (valid ${crl.thisUpdate.toISOString()} to ${
        crl.nextUpdate?.toISOString() ?? 'forever'
      }); fetch a current CRL`,
    );
  }
}

export function isRevoked(crl: Crl, cert: X509Certificate | string): boolean {
  const serial = typeof cert === 'string' ? cert : cert.serialNumber;
  return crl.revoked.has(normalizeSerial(serial));
}

/** Throws REVOKED when `cert` is listed in `crl`. */
export function assertNotRevoked(crl: Crl, cert: X509Certificate, what: string): void {
  if (isRevoked(crl, cert)) {
    throw new AttestationError(
      'REVOKED',
      `${what}: certificate "${cert.subject.replace(/\n/g, ', ')}" (serial ${normalizeSerial(
        cert.serialNumber,
      )}) is revoked`,
    );
  }
}

/** Full check: issuer, signature, validity window at `now`, and that `cert` is not listed. */
export function checkCrl(
  crl: Crl,
  issuer: X509Certificate,
  cert: X509Certificate,
  now: Date,
  what: string,
): void {
  verifyCrlIssuer(crl, issuer, what);
  checkCrlTime(crl, now, what);
  assertNotRevoked(crl, cert, what);
}
