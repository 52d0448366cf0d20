import {
  constants as C,
  createCipheriv,
  createDecipheriv,
  createECDH,
  createHash,
  createPrivateKey,
  createPublicKey,
  type ECDH,
  type JsonWebKey,
  KeyObject,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';
import { aesKeyUnwrap, aesKeyWrap } from './aes-kw.js';
import { decodeB64U, encodeB64U } from './base64.js';
import { CryptoError } from './errors.js';

/*
 * The KBS resource response: a flattened JWE JSON (kbs-protocol.md §6.4).
 *
 * - enc is always A256GCM with a fresh 32-byte CEK and 12-byte IV; AAD = ASCII of `protected`.
 * - alg follows the TEE key: ECDH-ES+A256KW (P-256, P-521), RSA-OAEP-256 or RSA1_5.
 * - The protected header is compact JSON with `alg`, `enc`, then the remaining members with sorted
 *   keys (inside `epk`: crv, kty, x, y). Upstream guests re-serialize the parsed header in exactly that
 *   order to rebuild the AAD, so any other order breaks decryption there.
 * - No `aad` member is ever emitted; one that is received is ignored (a generic JWE library would fold
 *   it into the GCM AAD).
 */

export type EcCurve = 'P-256' | 'P-521';

/** A TEE public key exactly as the KBS protocol carries it in `runtime-data.tee-pubkey` (§3.3). */
export type TeePublicJwk =
  | { kty: 'EC'; crv: EcCurve; alg: 'ECDH-ES+A256KW'; x: string; y: string }
  | { kty: 'RSA'; alg: 'RSA-OAEP-256' | 'RSA1_5'; n: string; e: string };

export interface ResourceResponse {
  protected: string;
  encrypted_key: string;
  iv: string;
  ciphertext: string;
  tag: string;
}

/** Deterministic inputs, only for reproducing test vectors. Never set in production paths. */
export interface JweTestOnly {
  /** Ephemeral ECDH private scalar (big-endian bytes or base64url). */
  ephemeralD?: Uint8Array | string;
  cek?: Uint8Array;
  iv?: Uint8Array;
}

const CURVES: Record<EcCurve, { openssl: string; size: number }> = {
  'P-256': { openssl: 'prime256v1', size: 32 },
  'P-521': { openssl: 'secp521r1', size: 66 },
};

const MIN_RSA_BITS = 2048;

function fail(code: 'KEY_INVALID' | 'UNSUPPORTED_ALGORITHM' | 'JSON_INVALID', msg: string): never {
  throw new CryptoError(code, msg);
}

function str(o: Record<string, unknown>, k: string): string {
  const v = o[k];
  if (typeof v !== 'string' || v.length === 0)
    fail('KEY_INVALID', `TEE public key: member "${k}" must be a non-empty string`);
  return v;
}

/**
 * Validates a TEE public key and returns it with exactly the protocol's members (extra members such as
 * `kid` are dropped, as upstream's parser does; the caller must hash this normalized form, §4).
 */
export function parseTeePublicJwk(value: unknown): TeePublicJwk {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    fail('KEY_INVALID', 'TEE public key must be a JSON object (JWK)');
  }
  const o = value as Record<string, unknown>;
  const kty = o.kty;
  if (kty === 'EC') {
    const crv = str(o, 'crv');
    if (crv !== 'P-256' && crv !== 'P-521')
      fail(
        'UNSUPPORTED_ALGORITHM',
        `TEE public key: curve ${JSON.stringify(crv)} is not supported (P-256 or P-521)`,
      );
    const alg = str(o, 'alg');
    if (alg !== 'ECDH-ES+A256KW')
      fail(
        'UNSUPPORTED_ALGORITHM',
        `TEE public key: EC key alg must be ECDH-ES+A256KW, got ${JSON.stringify(alg)}`,
      );
    const x = str(o, 'x');
    const y = str(o, 'y');
    const size = CURVES[crv].size;
    if (
      decodeB64U(x, 'TEE public key x').length !== size ||
      decodeB64U(y, 'TEE public key y').length !== size
    ) {
      fail('KEY_INVALID', `TEE public key: ${crv} coordinates must be ${size} bytes`);
    }
    return { kty: 'EC', crv, alg, x, y };
  }
  if (kty === 'RSA') {
    const alg = str(o, 'alg');
    if (alg !== 'RSA-OAEP-256' && alg !== 'RSA1_5')
      fail(
        'UNSUPPORTED_ALGORITHM',
        `TEE public key: RSA key alg must be RSA-OAEP-256 or RSA1_5, got ${JSON.stringify(alg)}`,
      );
    const n = str(o, 'n');
    const e = str(o, 'e');
    decodeB64U(n, 'TEE public key n');
    decodeB64U(e, 'TEE public key e');
    return { kty: 'RSA', alg, n, e };
  }
  return fail(
    'UNSUPPORTED_ALGORITHM',
    `TEE public key: kty ${JSON.stringify(kty)} is not supported (EC or RSA)`,
  );
}

/**
 * A validated TEE key with its decoded material, so a server encrypting many responses to the same
 * key (one token, many GETs) validates and decodes it once.
 */
export interface PreparedTeeKey {
  readonly jwk: TeePublicJwk;
  /** EC: uncompressed SEC1 point. */
  readonly point?: Buffer;
  /** RSA: the public key object. */
  readonly rsa?: KeyObject;
}

const prepared = new WeakSet<object>();

export function prepareTeeKey(teePublicJwk: unknown): PreparedTeeKey {
  const jwk = parseTeePublicJwk(teePublicJwk);
  let out: PreparedTeeKey;
  if (jwk.kty === 'EC') {
    out = { jwk, point: Buffer.concat([Buffer.from([4]), decodeB64U(jwk.x), decodeB64U(jwk.y)]) };
  } else {
    let rsa: KeyObject;
    try {
      rsa = createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: jwk.e }, format: 'jwk' });
    } catch (e) {
      throw new CryptoError('KEY_INVALID', 'TEE public key: invalid RSA key', { cause: e });
    }
    const bits = rsa.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS)
      fail('KEY_INVALID', `TEE public key: RSA modulus is ${bits} bits, at least ${MIN_RSA_BITS} required`);
    out = { jwk, rsa };
  }
  prepared.add(out);
  return Object.freeze(out);
}

/*
 * Randomness for CEKs and IVs, drawn from the CSPRNG in 4 KiB batches: one call per ~90 responses
 * instead of two, and every byte is used once.
 */
let pool = Buffer.alloc(0);
let poolPos = 0;
function random(n: number): Buffer {
  if (poolPos + n > pool.length) {
    pool = randomBytes(4096);
    poolPos = 0;
  }
  const out = Buffer.from(pool.subarray(poolPos, poolPos + n));
  pool.fill(0, poolPos, poolPos + n);
  poolPos += n;
  return out;
}

/*
 * One ECDH context per curve, re-keyed with generateKeys() for every message: each response still
 * gets a fresh ephemeral key, without allocating (and later finalizing) a native context per call.
 * Safe because the calls are synchronous on one thread.
 */
const ecdhContexts = new Map<EcCurve, ECDH>();
function ephemeralEcdh(crv: EcCurve): ECDH {
  let e = ecdhContexts.get(crv);
  if (!e) {
    e = createECDH(CURVES[crv].openssl);
    ecdhContexts.set(crv, e);
  }
  e.generateKeys();
  return e;
}

/** Concat KDF (NIST SP 800-56A, RFC 7518 §4.6.2) for ECDH-ES+A256KW: one SHA-256 round, empty party info. */
const OTHER_INFO = (() => {
  const alg = Buffer.from('ECDH-ES+A256KW', 'ascii');
  const b = Buffer.alloc(4 + alg.length + 4 + 4 + 4);
  b.writeUInt32BE(alg.length, 0);
  alg.copy(b, 4);
  // PartyUInfo and PartyVInfo: zero lengths (already zero); SuppPubInfo: key length in bits.
  b.writeUInt32BE(256, 4 + alg.length + 8);
  return b;
})();
const COUNTER_1 = Buffer.from([0, 0, 0, 1]);

function concatKdf(z: Uint8Array): Buffer {
  return createHash('sha256').update(COUNTER_1).update(z).update(OTHER_INFO).digest();
}

/** Protected-header bytes in the mandatory member order. Values are JSON-escaped individually. */
function headerString(alg: string, epk?: { crv: string; x: string; y: string }): string {
  let s = `{"alg":${JSON.stringify(alg)},"enc":"A256GCM"`;
  if (epk) {
    s += `,"epk":{"crv":${JSON.stringify(epk.crv)},"kty":"EC","x":${JSON.stringify(epk.x)},"y":${JSON.stringify(epk.y)}}`;
  }
  return `${s}}`;
}

function pad(b: Buffer, size: number): Buffer {
  if (b.length === size) return b;
  const out = Buffer.alloc(size);
  b.copy(out, size - b.length);
  return out;
}

function sealGcm(cek: Uint8Array, iv: Uint8Array, aad: string, plaintext: Uint8Array) {
  const c = createCipheriv('aes-256-gcm', cek, iv);
  c.setAAD(Buffer.from(aad, 'ascii'));
  const ct = Buffer.concat([c.update(plaintext), c.final()]);
  return { ciphertext: ct, tag: c.getAuthTag() };
}

/**
 * Encrypts `plaintext` to the TEE key: a JWK (validated, see parseTeePublicJwk) or a PreparedTeeKey.
 * The returned object's member order is the wire order; JSON.stringify it as is.
 */
export function encryptResourceResponse(
  teePublicJwk: unknown,
  plaintext: Uint8Array,
  testOnly?: JweTestOnly,
): ResourceResponse {
  const prep =
    teePublicJwk && typeof teePublicJwk === 'object' && prepared.has(teePublicJwk)
      ? (teePublicJwk as PreparedTeeKey)
      : prepareTeeKey(teePublicJwk);
  const key = prep.jwk;
  const cek = testOnly?.cek ?? random(32);
  const iv = testOnly?.iv ?? random(12);
  if (cek.length !== 32) fail('KEY_INVALID', 'JWE: CEK must be 32 bytes');
  if (iv.length !== 12) fail('KEY_INVALID', 'JWE: IV must be 12 bytes');

  let protectedB64: string;
  let encryptedKey: Buffer;
  if (key.kty === 'EC') {
    const curve = CURVES[key.crv];
    let ecdh: ECDH;
    if (testOnly?.ephemeralD !== undefined) {
      ecdh = createECDH(curve.openssl);
      const d =
        typeof testOnly.ephemeralD === 'string' ? decodeB64U(testOnly.ephemeralD) : testOnly.ephemeralD;
      ecdh.setPrivateKey(Buffer.from(d));
    } else {
      ecdh = ephemeralEcdh(key.crv);
    }
    let z: Buffer;
    try {
      // OpenSSL decodes the point with an on-curve check, so invalid-curve points are rejected here.
      z = ecdh.computeSecret(prep.point!);
    } catch (e) {
      throw new CryptoError('KEY_INVALID', `TEE public key: not a valid ${key.crv} point`, { cause: e });
    }
    const epkPoint = ecdh.getPublicKey();
    const epk = {
      crv: key.crv,
      x: encodeB64U(epkPoint.subarray(1, 1 + curve.size)),
      y: encodeB64U(epkPoint.subarray(1 + curve.size)),
    };
    protectedB64 = Buffer.from(headerString('ECDH-ES+A256KW', epk)).toString('base64url');
    encryptedKey = aesKeyWrap(concatKdf(pad(z, curve.size)), cek);
  } else {
    let pub: KeyObject;
    try {
      pub = createPublicKey({ key: { kty: 'RSA', n: key.n, e: key.e }, format: 'jwk' });
    } catch (e) {
      throw new CryptoError('KEY_INVALID', 'TEE public key: invalid RSA key', { cause: e });
    }
    const bits = pub.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS)
      fail('KEY_INVALID', `TEE public key: RSA modulus is ${bits} bits, at least ${MIN_RSA_BITS} required`);
    encryptedKey =
      key.alg === 'RSA-OAEP-256'
        ? publicEncrypt({ key: pub, padding: C.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, cek)
        : publicEncrypt({ key: pub, padding: C.RSA_PKCS1_PADDING }, cek);
    protectedB64 = Buffer.from(headerString(key.alg)).toString('base64url');
  }
  const { ciphertext, tag } = sealGcm(cek, iv, protectedB64, plaintext);
  return {
    protected: protectedB64,
    encrypted_key: encodeB64U(encryptedKey),
    iv: encodeB64U(iv),
    ciphertext: encodeB64U(ciphertext),
    tag: encodeB64U(tag),
  };
}

/** The AAD for a protected header object: base64url of compact JSON with alg, enc first, then sorted members. */
export function protectedHeaderAad(header: Record<string, unknown>): string {
  const { alg, enc, ...rest } = header;
  const out: Record<string, unknown> = { alg, enc };
  for (const k of Object.keys(rest).sort()) out[k] = sortDeep(rest[k]);
  return Buffer.from(JSON.stringify(out)).toString('base64url');
}

function sortDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortDeep);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o).sort()) out[k] = sortDeep(o[k]);
    return out;
  }
  return v;
}

function toPrivateKey(k: KeyObject | JsonWebKey): KeyObject {
  if (k instanceof KeyObject) {
    if (k.type !== 'private') fail('KEY_INVALID', 'JWE: a private TEE key is required to decrypt');
    return k;
  }
  try {
    return createPrivateKey({ key: k as JsonWebKey, format: 'jwk' });
  } catch (e) {
    throw new CryptoError('KEY_INVALID', 'JWE: the TEE private key is not a valid private JWK', { cause: e });
  }
}

const UNCOMPRESSED = Buffer.from([0x04]);

interface EcAgreement {
  crv: EcCurve;
  size: number;
  ecdh: ECDH;
}

/*
 * One ECDH context per TEE private key, kept as long as the key lives. Importing the sender's epk as
 * a KeyObject and calling diffieHellman() costs two extra scalar multiplications per message (OpenSSL
 * re-checks the imported point's order and validates the peer again at derive time); a context holding
 * our scalar decodes the raw point with its on-curve check and derives once: about half the CPU of
 * every resource fetch (bench/cdh.bench.ts). P-256 and P-521 have cofactor 1, so the on-curve check is
 * the whole public-key validation.
 */
const agreements = new WeakMap<KeyObject, EcAgreement>();
function ecdhFor(key: KeyObject): EcAgreement {
  let a = agreements.get(key);
  if (!a) {
    const jwk = key.export({ format: 'jwk' });
    const crv = jwk.crv as EcCurve;
    const curve = CURVES[crv];
    if (!curve || !jwk.d) fail('UNSUPPORTED_ALGORITHM', `JWE: TEE key curve ${jwk.crv} is not supported`);
    const ecdh = createECDH(curve.openssl);
    ecdh.setPrivateKey(decodeB64U(jwk.d, 'TEE key d'));
    a = { crv, size: curve.size, ecdh };
    agreements.set(key, a);
  }
  return a;
}

function decryptFailed(what: string, cause?: unknown): CryptoError {
  return new CryptoError('DECRYPT_FAILED', `JWE: ${what}`, cause ? { cause } : undefined);
}

/**
 * RSAES-PKCS1-v1_5 unpadding done by hand: Node refuses PKCS#1 v1.5 private decryption (Marvin), so
 * decrypt raw and unpad with the RFC 7516 §11.5 countermeasure: on any padding error substitute a random
 * CEK so the failure surfaces only as a GCM authentication failure, with no distinguishable branch.
 */
function rsa15Unwrap(key: KeyObject, wrapped: Buffer): Buffer {
  const fallback = randomBytes(32);
  let em: Buffer;
  try {
    em = privateDecrypt({ key, padding: C.RSA_NO_PADDING }, wrapped);
  } catch {
    return fallback;
  }
  let ok = em[0] === 0 && em[1] === 2 ? 1 : 0;
  const start = em.length - 33;
  // The CEK is 32 bytes: EM = 00 02 PS(nonzero, >= 8) 00 CEK.
  ok &= start >= 10 && em[start] === 0 ? 1 : 0;
  let psOk = 1;
  for (let i = 2; i < Math.max(start, 2); i++) psOk &= em[i] !== 0 ? 1 : 0;
  ok &= psOk;
  const cek = em.subarray(em.length - 32);
  return ok === 1 ? Buffer.from(cek) : fallback;
}

/**
 * Decrypts a KBS resource response. `body` is the parsed JSON object or its text. The received
 * `protected` string is the AAD; an `aad` member is ignored; for ECDH, `epk.crv` must match the key.
 */
export function decryptResourceResponse(body: unknown, teePrivateKey: KeyObject | JsonWebKey): Buffer {
  let obj: Record<string, unknown>;
  if (typeof body === 'string' || body instanceof Uint8Array) {
    try {
      obj = JSON.parse(typeof body === 'string' ? body : Buffer.from(body).toString('utf8'));
    } catch (e) {
      throw new CryptoError('JSON_INVALID', 'JWE: response body is not JSON', { cause: e });
    }
  } else {
    obj = body as Record<string, unknown>;
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj))
    fail('JSON_INVALID', 'JWE: response must be a JSON object');
  for (const k of ['protected', 'encrypted_key', 'iv', 'ciphertext', 'tag']) {
    if (typeof obj[k] !== 'string') fail('JSON_INVALID', `JWE: member "${k}" is missing or not a string`);
  }
  const protectedB64 = obj.protected as string;
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(decodeB64U(protectedB64, 'JWE protected header').toString('utf8'));
  } catch (e) {
    if (e instanceof CryptoError) throw e;
    throw new CryptoError('JSON_INVALID', 'JWE: protected header is not JSON', { cause: e });
  }
  if (!header || typeof header !== 'object' || Array.isArray(header))
    fail('JSON_INVALID', 'JWE: protected header must be an object');
  const encryptedKey = decodeB64U(obj.encrypted_key as string, 'JWE encrypted_key');
  const iv = decodeB64U(obj.iv as string, 'JWE iv');
  const ciphertext = decodeB64U(obj.ciphertext as string, 'JWE ciphertext');
  const tag = decodeB64U(obj.tag as string, 'JWE tag');
  if (iv.length !== 12) throw decryptFailed('iv must be 12 bytes');
  if (tag.length !== 16) throw decryptFailed('tag must be 16 bytes');
  if (header.enc !== undefined && header.enc !== 'A256GCM') {
    fail('UNSUPPORTED_ALGORITHM', `JWE: enc ${JSON.stringify(header.enc)} is not supported (A256GCM)`);
  }

  const key = toPrivateKey(teePrivateKey);
  const alg = header.alg;
  let cek: Buffer;
  if (alg === 'ECDH-ES+A256KW') {
    if (key.asymmetricKeyType !== 'ec') fail('KEY_INVALID', 'JWE: ECDH-ES+A256KW needs an EC TEE key');
    const agreement = ecdhFor(key);
    const { crv, size } = agreement;
    const epk = header.epk as Record<string, unknown> | undefined;
    if (!epk || typeof epk !== 'object') fail('JSON_INVALID', 'JWE: protected header has no epk');
    if (epk.kty !== 'EC' || epk.crv !== crv) {
      throw decryptFailed(`epk curve ${JSON.stringify(epk.crv)} does not match the TEE key curve ${crv}`);
    }
    let z: Buffer;
    try {
      const x = decodeB64U(typeof epk.x === 'string' ? epk.x : '', 'epk x');
      const y = decodeB64U(typeof epk.y === 'string' ? epk.y : '', 'epk y');
      if (x.length !== size || y.length !== size) throw new Error(`coordinates must be ${size} bytes`);
      // OpenSSL decodes the point with an on-curve check, so invalid-curve points are rejected here.
      z = agreement.ecdh.computeSecret(Buffer.concat([UNCOMPRESSED, x, y]));
    } catch (e) {
      throw decryptFailed('epk is not a valid EC point', e);
    }
    cek = aesKeyUnwrap(concatKdf(pad(z, size)), encryptedKey);
  } else if (alg === 'RSA-OAEP-256' || alg === 'RSA1_5') {
    if (key.asymmetricKeyType !== 'rsa') fail('KEY_INVALID', `JWE: ${alg} needs an RSA TEE key`);
    if (alg === 'RSA-OAEP-256') {
      try {
        cek = privateDecrypt({ key, padding: C.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, encryptedKey);
      } catch (e) {
        throw decryptFailed('RSA-OAEP-256 key unwrap failed (wrong key or tampered data)', e);
      }
    } else {
      cek = rsa15Unwrap(key, encryptedKey);
    }
  } else {
    fail('UNSUPPORTED_ALGORITHM', `JWE: alg ${JSON.stringify(alg)} is not supported`);
  }
  if (cek.length !== 32) throw decryptFailed('content-encryption key must be 32 bytes');
  try {
    const d = createDecipheriv('aes-256-gcm', cek, iv);
    d.setAAD(Buffer.from(protectedB64, 'ascii'));
    d.setAuthTag(tag);
    return Buffer.concat([d.update(ciphertext), d.final()]);
  } catch (e) {
    throw decryptFailed('authentication failed (wrong key or tampered response)', e);
  }
}
