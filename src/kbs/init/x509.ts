import {
  createHash,
  createPublicKey,
  type KeyObject,
  randomBytes,
  sign,
  type X509Certificate,
} from 'node:crypto';
import { isIP } from 'node:net';
import * as asn1js from 'asn1js';

/*
 * A minimal X.509 v3 certificate builder (RFC 5280) on asn1js + node:crypto, so `kbs init` works on a
 * machine without the openssl CLI. Issuer keys: EC P-256 (ecdsa-with-SHA256) or Ed25519.
 */

const OID = {
  commonName: '2.5.4.3',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ed25519: '1.3.101.112',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

export interface CertSpec {
  subjectCn: string;
  /** Public key to certify. */
  publicKey: KeyObject;
  /** Signing key (the subject's own key for a self-signed certificate). */
  issuerKey: KeyObject;
  /** Issuer certificate; absent for self-signed. */
  issuerCert?: X509Certificate;
  days: number;
  ca?: boolean;
  /** DNS names and IP addresses (subjectAltName), makes it a TLS server certificate. */
  san?: string[];
  now?: Date;
}

function name(cn: string): asn1js.Sequence {
  return new asn1js.Sequence({
    value: [
      new asn1js.Set({
        value: [
          new asn1js.Sequence({
            value: [
              new asn1js.ObjectIdentifier({ value: OID.commonName }),
              new asn1js.Utf8String({ value: cn }),
            ],
          }),
        ],
      }),
    ],
  });
}

function time(d: Date): asn1js.BaseBlock {
  // RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime after.
  return d.getUTCFullYear() < 2050
    ? new asn1js.UTCTime({ valueDate: d })
    : new asn1js.GeneralizedTime({ valueDate: d });
}

function ext(oid: string, critical: boolean, value: asn1js.BaseBlock): asn1js.Sequence {
  const v: asn1js.BaseBlock[] = [new asn1js.ObjectIdentifier({ value: oid })];
  if (critical) v.push(new asn1js.Boolean({ value: true }));
  v.push(new asn1js.OctetString({ valueHex: value.toBER() }));
  return new asn1js.Sequence({ value: v });
}

function ipBytes(ip: string): Uint8Array {
  if (isIP(ip) === 4) return new Uint8Array(ip.split('.').map(Number));
  const parts = ip.split('::');
  const head = parts[0] ? parts[0].split(':') : [];
  const tail = parts.length > 1 && parts[1] ? parts[1].split(':') : [];
  const groups = [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = Number.parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  return out;
}

function keyId(pub: KeyObject): Uint8Array {
  return new Uint8Array(
    createHash('sha1')
      .update(pub.export({ format: 'der', type: 'spki' }))
      .digest(),
  );
}

function sigAlg(key: KeyObject): { oid: string; hash: string | null } {
  if (key.asymmetricKeyType === 'ec') return { oid: OID.ecdsaSha256, hash: 'sha256' };
  if (key.asymmetricKeyType === 'ed25519') return { oid: OID.ed25519, hash: null };
  throw new Error('certificate issuer key must be EC P-256 or Ed25519');
}

/** Builds and signs a certificate; returns it as PEM. */
export function buildCertificate(spec: CertSpec): string {
  const now = spec.now ?? new Date();
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + spec.days * 86_400_000);
  const serial = randomBytes(16);
  // Positive and minimally encoded: a leading 0x00 before a byte < 0x80 is illegal DER padding.
  serial[0] = (serial[0] & 0x7f) | 0x40;
  const alg = sigAlg(spec.issuerKey);
  const algId = new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: alg.oid })] });
  const spki = asn1js.fromBER(new Uint8Array(spec.publicKey.export({ format: 'der', type: 'spki' }))).result;
  const issuerPub = spec.issuerCert ? spec.issuerCert.publicKey : createPublicKey(spec.issuerKey);

  const exts: asn1js.Sequence[] = [
    ext(
      OID.basicConstraints,
      true,
      new asn1js.Sequence({ value: spec.ca ? [new asn1js.Boolean({ value: true })] : [] }),
    ),
    // keyUsage: digitalSignature (bit 0), plus keyCertSign (5) and cRLSign (6) for a CA.
    ext(
      OID.keyUsage,
      true,
      new asn1js.BitString({
        valueHex: new Uint8Array([spec.ca ? 0x86 : 0x80]),
        unusedBits: spec.ca ? 1 : 7,
      }),
    ),
    ext(OID.subjectKeyId, false, new asn1js.OctetString({ valueHex: keyId(spec.publicKey) })),
    ext(
      OID.authorityKeyId,
      false,
      new asn1js.Sequence({
        value: [new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 0 }, valueHex: keyId(issuerPub) })],
      }),
    ),
  ];
  if (spec.san?.length) {
    exts.push(
      ext(
        OID.subjectAltName,
        false,
        new asn1js.Sequence({
          value: spec.san.map((s) =>
            isIP(s)
              ? new asn1js.Primitive({ idBlock: { tagClass: 3, tagNumber: 7 }, valueHex: ipBytes(s) })
              : new asn1js.Primitive({
                  idBlock: { tagClass: 3, tagNumber: 2 },
                  valueHex: new TextEncoder().encode(s),
                }),
          ),
        }),
      ),
      ext(
        OID.extKeyUsage,
        false,
        new asn1js.Sequence({ value: [new asn1js.ObjectIdentifier({ value: OID.serverAuth })] }),
      ),
    );
  }

  const issuerName = spec.issuerCert
    ? asn1js.fromBER(new Uint8Array(tbsIssuerSubject(spec.issuerCert))).result
    : name(spec.subjectCn);
  const tbs = new asn1js.Sequence({
    value: [
      new asn1js.Constructed({
        idBlock: { tagClass: 3, tagNumber: 0 },
        value: [new asn1js.Integer({ value: 2 })],
      }),
      new asn1js.Integer({ valueHex: serial }),
      algId,
      issuerName,
      new asn1js.Sequence({ value: [time(notBefore), time(notAfter)] }),
      name(spec.subjectCn),
      spki,
      new asn1js.Constructed({
        idBlock: { tagClass: 3, tagNumber: 3 },
        value: [new asn1js.Sequence({ value: exts })],
      }),
    ],
  });
  const tbsDer = Buffer.from(tbs.toBER());
  const signature = sign(alg.hash, tbsDer, spec.issuerKey);
  const cert = new asn1js.Sequence({
    value: [tbs, algId, new asn1js.BitString({ valueHex: new Uint8Array(signature) })],
  });
  const der = Buffer.from(cert.toBER());
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE-----\n${b64.trimEnd()}\n-----END CERTIFICATE-----\n`;
}

/** The DER of a certificate's subject Name (to use as the issuer of certificates it signs). */
function tbsIssuerSubject(cert: X509Certificate): ArrayBuffer {
  const c = asn1js.fromBER(new Uint8Array(cert.raw)).result as asn1js.Sequence;
  const tbs = c.valueBlock.value[0] as asn1js.Sequence;
  const fields = tbs.valueBlock.value;
  const offset = fields[0].idBlock.tagClass === 3 ? 1 : 0;
  return fields[offset + 4].toBER();
}
