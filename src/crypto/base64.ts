import { CryptoError } from './errors.js';

/*
 * Strict base64 codecs (spec sealed-secret.md §2). Node's Buffer decoders are lenient: they accept
 * padding, whitespace, mixed alphabets and non-canonical tails. A sealed secret must have exactly one
 * encoding, so these decoders reject everything but the canonical form.
 */

const STD = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function table(alphabet: string): Int8Array {
  const t = new Int8Array(128).fill(-1);
  for (let i = 0; i < alphabet.length; i++) t[alphabet.charCodeAt(i)] = i;
  return t;
}
const STD_TABLE = table(STD);
const URL_TABLE = table(URL);

function decodeSymbols(s: string, t: Int8Array, what: string): Buffer {
  const rem = s.length % 4;
  if (rem === 1) throw new CryptoError('BASE64_INVALID', `${what}: invalid length ${s.length}`);
  const out = Buffer.allocUnsafe(Math.floor((s.length * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  let last = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? t[c] : -1;
    if (v < 0) throw new CryptoError('BASE64_INVALID', `${what}: invalid character at offset ${i}`);
    last = v;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  // Canonical tail: the bits of the last symbol that fall outside the decoded bytes must be zero.
  if (rem === 2 && (last & 0x0f) !== 0)
    throw new CryptoError('BASE64_INVALID', `${what}: non-canonical tail`);
  if (rem === 3 && (last & 0x03) !== 0)
    throw new CryptoError('BASE64_INVALID', `${what}: non-canonical tail`);
  return out.subarray(0, o);
}

/** Strict base64url without padding (JWS segments, JWK members). */
export function decodeB64U(s: string, what = 'base64url'): Buffer {
  return decodeSymbols(s, URL_TABLE, what);
}

/** Strict standard base64 with mandatory padding (envelope fields, offline-fs values). */
export function decodeStd(s: string, what = 'base64'): Buffer {
  if (s.length % 4 !== 0) throw new CryptoError('BASE64_INVALID', `${what}: length is not a multiple of 4`);
  let body = s;
  if (body.endsWith('==')) body = body.slice(0, -2);
  else if (body.endsWith('=')) body = body.slice(0, -1);
  if (body.length % 4 === 1 || (body.length !== s.length && body.length % 4 === 0)) {
    throw new CryptoError('BASE64_INVALID', `${what}: bad padding`);
  }
  return decodeSymbols(body, STD_TABLE, what);
}

export function encodeB64U(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
}

export function encodeStd(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}
