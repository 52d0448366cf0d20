import { decodeB64U, decodeStd } from '../crypto/base64.js';
import { CryptoError } from '../crypto/errors.js';
import { verifyEs256 } from '../crypto/es256.js';
import { parseP256PublicJwk } from '../crypto/jwk.js';
import { SealedSecretError } from './errors.js';
import { type ProtectedHeader, parseHeader } from './header.js';
import { parsePayload, type SecretPayload } from './payload.js';

/*
 * The signed sealed-secret string `sealed.<header>.<payload>.<signature>` (sealed-secret.md §3).
 * Verification runs in upstream's order (§3.4), always over the received segment text.
 */

export const SEALED_PREFIX = 'sealed.';

/** Finds the verification key (JWK bytes) named by a `kid`. */
export interface VerificationKeyResolver {
  resolve(kid: string): Promise<Uint8Array>;
}

export interface ParsedSealedSecret {
  header: ProtectedHeader;
  kid: string;
  alg: string;
  /** The received `header.payload` text, signed as is. */
  signingInput: Uint8Array;
  signature: Uint8Array;
  /** Decoded payload bytes; undefined when the payload segment is empty. */
  payloadBytes: Uint8Array | undefined;
}

const fail = (why: string) => new SealedSecretError('BAD_FORMAT', `parse SealedSecret failed: ${why}`);

function toText(input: string | Uint8Array): string {
  if (typeof input === 'string') return input;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(input);
  } catch {
    throw fail('Secret string must be UTF-8');
  }
}

/** Steps 1–5 of §3.4: structure, strict base64url, header members, `kid` and `alg` present. */
export function parseSealedSecret(input: string | Uint8Array): ParsedSealedSecret {
  let text = toText(input);
  // The prefix is optional and stripped repeatedly; whitespace is not trimmed (upstream daemon behaviour).
  while (text.startsWith(SEALED_PREFIX)) text = text.slice(SEALED_PREFIX.length);
  const parts = text.split('.');
  if (parts.length !== 3) throw fail(`Failed to parse JWS (expected 3 segments, found ${parts.length})`);
  let headerBytes: Uint8Array;
  let payloadBytes: Uint8Array;
  let signature: Uint8Array;
  try {
    headerBytes = decodeB64U(parts[0], 'JWS header');
    payloadBytes = decodeB64U(parts[1], 'JWS payload');
    signature = decodeB64U(parts[2], 'JWS signature');
  } catch (e) {
    throw fail(`Failed to parse JWS (${e instanceof CryptoError ? e.message : 'bad base64url'})`);
  }
  const header = parseHeader(headerBytes);
  if (typeof header.kid !== 'string') throw fail('Could not find kid');
  if (typeof header.alg !== 'string') throw fail('Could not get algorithm');
  return {
    header,
    kid: header.kid,
    alg: header.alg,
    signingInput: Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii'),
    signature,
    payloadBytes: parts[1] === '' ? undefined : payloadBytes,
  };
}

/** Steps 7–11: algorithm, key, signature, payload. `keyJwk` is what the kid resolved to. */
export function verifyParsed(parsed: ParsedSealedSecret, keyJwk: Uint8Array): SecretPayload {
  if (parsed.alg !== 'ES256')
    throw new SealedSecretError('ALG_UNSUPPORTED', 'Signing key error: JWS algorithm must be ES256');
  let key: ReturnType<typeof parseP256PublicJwk>;
  try {
    key = parseP256PublicJwk(keyJwk);
  } catch (e) {
    const msg = e instanceof CryptoError ? e.message : 'Could not parse verification key.';
    throw new SealedSecretError(
      'KEY_INVALID',
      `verification key for kid ${JSON.stringify(parsed.kid)}: ${msg}`,
      { cause: e },
    );
  }
  if (!verifyEs256(key.point, parsed.signingInput, parsed.signature)) {
    throw new SealedSecretError(
      'SIGNATURE_INVALID',
      `Signature Error: signature does not verify with kid ${JSON.stringify(parsed.kid)}`,
    );
  }
  if (!parsed.payloadBytes) throw fail('Could not find JWS Payload');
  return parsePayload(parsed.payloadBytes);
}

/** Full default-mode verification: parse, resolve the kid, verify, parse the payload. */
export async function verifySealedSecret(
  input: string | Uint8Array,
  keys: VerificationKeyResolver,
): Promise<SecretPayload> {
  const parsed = parseSealedSecret(input);
  // Upstream resolves the key before looking at `alg` (§3.4 step 6); keep that order.
  const keyJwk = await keys.resolve(parsed.kid);
  return verifyParsed(parsed, keyJwk);
}

/**
 * Skip-verification parsing (§10): the legacy `sealed.fakejwsheader.<payload>.fakesignature` form and
 * signed strings whose signature is ignored. Unlike upstream we also accept the padded standard base64
 * payload that upstream's own documentation shows.
 */
export function parseSealedSecretUnverified(input: string | Uint8Array): SecretPayload {
  const parts = toText(input).split('.');
  if (parts.length !== 4) throw fail('malformed input sealed secret');
  let body: Uint8Array;
  try {
    body = decodeB64U(parts[2], 'payload');
  } catch {
    try {
      body = decodeStd(parts[2], 'payload');
    } catch {
      throw fail(
        'failed to decode secret body as base64 (URL-safe without padding, or standard with padding)',
      );
    }
  }
  return parsePayload(body);
}
