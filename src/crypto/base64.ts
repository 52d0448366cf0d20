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

const STD_SYMBOLS = /^[A-Za-z0-9+/]*$/;
const URL_SYMBOLS = /^[A-Za-z0-9_-]*$/;

function invalidAt(s: string, t: Int8Array, what: string): CryptoError {
  let i = 0;
  while (i < s.length && s.charCodeAt(i) < 128 && t[s.charCodeAt(i)] >= 0) i++;
  return new CryptoError('BASE64_INVALID', `${what}: invalid character at offset ${i}`);
}

/*
 * The alphabet is checked with a regular expression and the bytes decoded by Buffer (both native):
 * a JS loop over the symbols cost ~35 µs per JWE under the CDH's interpreter-only V8 (bin/cdh). The
 * regexp rules out everything Buffer would tolerate (padding, whitespace, the other alphabet), and the
 * tail check below rules out non-canonical encodings, so the result is exactly the strict decoding.
 */
function decodeSymbols(
  s: string,
  t: Int8Array,
  symbols: RegExp,
  encoding: BufferEncoding,
  what: string,
): Buffer {
  const rem = s.length % 4;
  if (rem === 1) throw new CryptoError('BASE64_INVALID', `${what}: invalid length ${s.length}`);
  if (!symbols.test(s)) throw invalidAt(s, t, what);
  // Canonical tail: the bits of the last symbol that fall outside the decoded bytes must be zero.
  if (rem !== 0) {
    const last = t[s.charCodeAt(s.length - 1)];
    if ((rem === 2 && (last & 0x0f) !== 0) || (rem === 3 && (last & 0x03) !== 0))
      throw new CryptoError('BASE64_INVALID', `${what}: non-canonical tail`);
  }
  return Buffer.from(s, encoding);
}

/** Strict base64url without padding (JWS segments, JWK members). */
export function decodeB64U(s: string, what = 'base64url'): Buffer {
  return decodeSymbols(s, URL_TABLE, URL_SYMBOLS, 'base64url', what);
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
  return decodeSymbols(body, STD_TABLE, STD_SYMBOLS, 'base64', what);
}

export function encodeB64U(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');
}

export function encodeStd(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}
