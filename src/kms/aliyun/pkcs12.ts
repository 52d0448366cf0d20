import {
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  type KeyObject,
  pbkdf2Sync,
  timingSafeEqual,
} from 'node:crypto';
import * as asn1js from 'asn1js';

/*
 * PKCS#12 (RFC 7292) reader for Alibaba Cloud client keys (`PrivateKeyData` of `clientKey_<id>.json`).
 * Node has no PKCS#12 API that hands out the key, so this walks the PFX: it verifies the integrity MAC
 * (which is also how a wrong password is told apart from a damaged file), decrypts the bags it needs and
 * returns the first private key.
 *
 * Supported: password-integrity MACs (HMAC-SHA-1/224/256/384/512 with the PKCS#12 KDF); key bags,
 * PKCS#8-shrouded key bags and encryptedData safes protected by PBES2 (PBKDF2 + AES-CBC / 3DES-CBC) or
 * pbeWithSHAAnd3-KeyTripleDES-CBC. That covers OpenSSL 1.x/3.x, Java keytool and the Alibaba Cloud
 * console. RC2/RC4 safes (legacy certificate bags) are skipped: no key is ever stored there by those tools.
 */

export class Pkcs12Error extends Error {}

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  shroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  pbeSha1TripleDes: '1.2.840.113549.1.12.1.3',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
} as const;

const DIGESTS: Record<string, { name: string; block: number }> = {
  '1.3.14.3.2.26': { name: 'sha1', block: 64 },
  '2.16.840.1.101.3.4.2.4': { name: 'sha224', block: 64 },
  '2.16.840.1.101.3.4.2.1': { name: 'sha256', block: 64 },
  '2.16.840.1.101.3.4.2.2': { name: 'sha384', block: 128 },
  '2.16.840.1.101.3.4.2.3': { name: 'sha512', block: 128 },
};
const HMAC_PRFS: Record<string, string> = {
  '1.2.840.113549.2.7': 'sha1',
  '1.2.840.113549.2.8': 'sha224',
  '1.2.840.113549.2.9': 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
};
const CIPHERS: Record<string, { name: string; keyLength: number }> = {
  '2.16.840.1.101.3.4.1.2': { name: 'aes-128-cbc', keyLength: 16 },
  '2.16.840.1.101.3.4.1.22': { name: 'aes-192-cbc', keyLength: 24 },
  '2.16.840.1.101.3.4.1.42': { name: 'aes-256-cbc', keyLength: 32 },
  '1.2.840.113549.3.7': { name: 'des-ede3-cbc', keyLength: 24 },
};

type Node = asn1js.AsnType;

function parse(der: Uint8Array, what: string): Node {
  const r = asn1js.fromBER(der);
  if (r.offset === -1 || r.offset !== der.byteLength) throw new Pkcs12Error(`${what} is not valid DER/BER`);
  return r.result;
}

function children(n: Node | undefined, what: string): Node[] {
  const v = (n as asn1js.Constructed | undefined)?.valueBlock?.value;
  if (!n || !(n as asn1js.BaseBlock).idBlock?.isConstructed || !Array.isArray(v)) {
    throw new Pkcs12Error(`${what}: expected a constructed value`);
  }
  return v as Node[];
}

function oidOf(n: Node | undefined, what: string): string {
  if (!(n instanceof asn1js.ObjectIdentifier)) throw new Pkcs12Error(`${what}: expected an OID`);
  return n.valueBlock.toString();
}

function intOf(n: Node | undefined, what: string): number {
  if (!(n instanceof asn1js.Integer)) throw new Pkcs12Error(`${what}: expected an INTEGER`);
  const v = n.valueBlock.valueDec;
  if (!Number.isSafeInteger(v) || v < 0) throw new Pkcs12Error(`${what}: integer out of range`);
  return v;
}

/** Content octets of an OCTET STRING (or [n] IMPLICIT one), primitive or BER-constructed. */
function octetsOf(n: Node | undefined, what: string): Buffer {
  const b = n as asn1js.BaseBlock | undefined;
  if (!b?.idBlock) throw new Pkcs12Error(`${what}: missing`);
  if (b.idBlock.isConstructed) {
    return Buffer.concat(children(n, what).map((c) => octetsOf(c, what)));
  }
  const view = (b.valueBlock as unknown as { valueHexView?: Uint8Array }).valueHexView;
  if (!view) throw new Pkcs12Error(`${what}: expected an OCTET STRING`);
  return Buffer.from(view);
}

/** The inner value of a `[0] EXPLICIT` wrapper. */
function explicit0(n: Node | undefined, what: string): Node {
  const b = n as asn1js.BaseBlock | undefined;
  if (b?.idBlock?.tagClass !== 3 || b.idBlock.tagNumber !== 0) {
    throw new Pkcs12Error(`${what}: expected [0]`);
  }
  const inner = children(n, what);
  if (inner.length !== 1) throw new Pkcs12Error(`${what}: [0] must hold one value`);
  return inner[0];
}

function derOf(n: Node): Buffer {
  return Buffer.from(n.toBER(false));
}

/** BMPString of the password with its two-byte terminator, as the PKCS#12 KDF wants it. */
function bmpPassword(password: string): Buffer {
  const out = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) out.writeUInt16BE(password.charCodeAt(i), i * 2);
  return out;
}

/** RFC 7292 appendix B.2: ID 1 = key, 2 = IV, 3 = MAC key. */
export function pkcs12Kdf(
  hash: string,
  blockSize: number,
  password: Buffer,
  salt: Buffer,
  id: 1 | 2 | 3,
  iterations: number,
  length: number,
): Buffer {
  const v = blockSize;
  const fill = (src: Buffer) => {
    if (src.length === 0) return Buffer.alloc(0);
    const out = Buffer.alloc(v * Math.ceil(src.length / v));
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length];
    return out;
  };
  const D = Buffer.alloc(v, id);
  const I = Buffer.concat([fill(salt), fill(password)]);
  const out: Buffer[] = [];
  let produced = 0;
  while (produced < length) {
    let A = createHash(hash).update(D).update(I).digest();
    for (let r = 1; r < iterations; r++) A = createHash(hash).update(A).digest();
    out.push(A);
    produced += A.length;
    if (produced >= length) break;
    const B = Buffer.alloc(v);
    for (let i = 0; i < v; i++) B[i] = A[i % A.length];
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k] + B[k] + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(out).subarray(0, length);
}

function decrypt(algorithm: Node, ciphertext: Buffer, password: string, what: string): Buffer {
  const [algOid, params] = children(algorithm, `${what} algorithm`);
  const oid = oidOf(algOid, `${what} algorithm`);
  let cipher: string;
  let key: Buffer;
  let iv: Buffer;
  if (oid === OID.pbeSha1TripleDes) {
    const [salt, iter] = children(params, `${what} PBE parameters`);
    const s = octetsOf(salt, 'PBE salt');
    const n = intOf(iter, 'PBE iterations');
    const pw = bmpPassword(password);
    cipher = 'des-ede3-cbc';
    key = pkcs12Kdf('sha1', 64, pw, s, 1, n, 24);
    iv = pkcs12Kdf('sha1', 64, pw, s, 2, n, 8);
  } else if (oid === OID.pbes2) {
    const [kdf, scheme] = children(params, 'PBES2 parameters');
    const [kdfOid, kdfParams] = children(kdf, 'PBES2 key derivation');
    if (oidOf(kdfOid, 'PBES2 KDF') !== OID.pbkdf2) throw new Pkcs12Error('PBES2: only PBKDF2 is supported');
    const p = children(kdfParams, 'PBKDF2 parameters');
    const salt = octetsOf(p[0], 'PBKDF2 salt');
    const iterations = intOf(p[1], 'PBKDF2 iterations');
    let prf = 'sha1';
    for (const extra of p.slice(2)) {
      if (extra instanceof asn1js.Sequence) {
        const prfOid = oidOf(children(extra, 'PBKDF2 prf')[0], 'PBKDF2 prf');
        const name = HMAC_PRFS[prfOid];
        if (!name) throw new Pkcs12Error(`PBKDF2: unsupported prf ${prfOid}`);
        prf = name;
      }
    }
    const [schemeOid, schemeIv] = children(scheme, 'PBES2 encryption scheme');
    const c = CIPHERS[oidOf(schemeOid, 'PBES2 cipher')];
    if (!c) throw new Pkcs12Error('PBES2: unsupported cipher');
    cipher = c.name;
    // PBES2 takes the password as its UTF-8 bytes (not the BMPString of the PKCS#12 PBEs).
    key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, c.keyLength, prf);
    iv = octetsOf(schemeIv, 'PBES2 IV');
  } else {
    throw new UnsupportedAlgorithm(oid);
  }
  try {
    const d = createDecipheriv(cipher, key, iv);
    return Buffer.concat([d.update(ciphertext), d.final()]);
  } catch {
    throw new Pkcs12Error(`${what}: decryption failed (wrong password or damaged file)`);
  }
}

class UnsupportedAlgorithm extends Pkcs12Error {
  constructor(readonly oid: string) {
    super(`unsupported encryption algorithm ${oid}`);
  }
}

function verifyMac(macData: Node, authSafe: Buffer, password: string): void {
  const [digestInfo, saltNode, iterNode] = children(macData, 'MacData');
  const [alg, digest] = children(digestInfo, 'MacData digest');
  const hashOid = oidOf(children(alg, 'MAC algorithm')[0], 'MAC algorithm');
  const hash = DIGESTS[hashOid];
  if (!hash) throw new Pkcs12Error(`unsupported MAC digest ${hashOid}`);
  const salt = octetsOf(saltNode, 'MAC salt');
  const iterations = iterNode ? intOf(iterNode, 'MAC iterations') : 1;
  const expected = octetsOf(digest, 'MAC value');
  const size = createHash(hash.name).digest().length;
  const key = pkcs12Kdf(hash.name, hash.block, bmpPassword(password), salt, 3, iterations, size);
  const actual = createHmac(hash.name, key).update(authSafe).digest();
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw new Pkcs12Error('MAC check failed: wrong password or damaged file');
  }
}

function keyFromBag(bag: Node, password: string): KeyObject | undefined {
  const [idNode, valueNode] = children(bag, 'SafeBag');
  const id = oidOf(idNode, 'SafeBag id');
  if (id !== OID.keyBag && id !== OID.shroudedKeyBag) return undefined;
  const value = explicit0(valueNode, 'SafeBag value');
  let pkcs8: Buffer;
  if (id === OID.keyBag) pkcs8 = derOf(value);
  else {
    const [alg, data] = children(value, 'EncryptedPrivateKeyInfo');
    pkcs8 = decrypt(alg, octetsOf(data, 'encrypted key'), password, 'shrouded key bag');
  }
  try {
    return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  } catch {
    throw new Pkcs12Error('the key bag does not hold a valid PKCS#8 private key (wrong password?)');
  }
}

/** The first private key in a PKCS#12 file. Throws Pkcs12Error (never echoing key material). */
export function privateKeyFromPkcs12(pfx: Uint8Array, password: string): KeyObject {
  const top = children(parse(pfx, 'PKCS#12 file'), 'PFX');
  if (intOf(top[0], 'PFX version') !== 3) throw new Pkcs12Error('PFX version is not 3');
  const [ctOid, ctContent] = children(top[1], 'authSafe');
  if (oidOf(ctOid, 'authSafe type') !== OID.data) {
    throw new Pkcs12Error('only password-integrity PKCS#12 (authSafe of type data) is supported');
  }
  const authSafe = octetsOf(explicit0(ctContent, 'authSafe content'), 'authSafe');
  if (top[2]) verifyMac(top[2], authSafe, password);

  let skipped: UnsupportedAlgorithm | undefined;
  for (const ci of children(parse(authSafe, 'AuthenticatedSafe'), 'AuthenticatedSafe')) {
    const [typeNode, contentNode] = children(ci, 'ContentInfo');
    const type = oidOf(typeNode, 'ContentInfo type');
    let safe: Buffer;
    if (type === OID.data) safe = octetsOf(explicit0(contentNode, 'data'), 'data');
    else if (type === OID.encryptedData) {
      const [, eci] = children(explicit0(contentNode, 'encryptedData'), 'EncryptedData');
      const [, alg, content] = children(eci, 'EncryptedContentInfo');
      try {
        safe = decrypt(alg, octetsOf(content, 'encrypted content'), password, 'encrypted safe');
      } catch (e) {
        if (e instanceof UnsupportedAlgorithm) {
          skipped = e;
          continue;
        }
        throw e;
      }
    } else continue;
    for (const bag of children(parse(safe, 'SafeContents'), 'SafeContents')) {
      const key = keyFromBag(bag, password);
      if (key) return key;
    }
  }
  throw new Pkcs12Error(
    skipped ? `no private key found (${skipped.message} skipped)` : 'no private key found',
  );
}
