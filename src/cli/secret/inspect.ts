import { readFile } from 'node:fs/promises';
import { CocosealError } from '../../common/errors.js';
import { decodeB64U } from '../../crypto/base64.js';
import { KidResolver } from '../../kms/verification-keys.js';
import type { SecretPayload } from '../../sealed/payload.js';
import { parseSealedSecret, parseSealedSecretUnverified, verifyParsed } from '../../sealed/sealed-secret.js';
import { UsageError } from '../run.js';

export type SignatureStatus = 'valid' | 'invalid' | 'unchecked';

export interface InspectReport {
  header: unknown;
  payload: SecretPayload;
  signature: { status: SignatureStatus; detail: string };
}

export interface InspectOptions {
  verifyKey?: string;
  skipVerification?: boolean;
  keyDir?: string;
}

/**
 * Decodes a sealed secret for humans. The signature is checked with --verify-key, else with the
 * local key directory when the kid names a file there; a kid that is a KBS URI cannot be checked
 * offline and is reported as unchecked.
 */
export async function inspectSealed(text: string, o: InspectOptions): Promise<InspectReport> {
  if (o.skipVerification) {
    const payload = parseSealedSecretUnverified(text);
    const parts = text.split('.');
    let header: unknown = parts[1];
    try {
      header = JSON.parse(decodeB64U(parts[1]).toString('utf8'));
    } catch {}
    return {
      header,
      payload,
      signature: { status: 'unchecked', detail: 'verification skipped (--skip-verification)' },
    };
  }
  const parsed = parseSealedSecret(text);
  let key: Uint8Array | undefined;
  let source = '';
  if (o.verifyKey) {
    try {
      key = await readFile(o.verifyKey);
    } catch {
      throw new UsageError(`cannot read --verify-key ${o.verifyKey}`);
    }
    source = o.verifyKey;
  } else {
    try {
      key = await new KidResolver({ keyDir: o.keyDir }).resolve(parsed.kid);
      source = `kid ${parsed.kid}`;
    } catch (e) {
      const why = e instanceof CocosealError ? e.toLine() : 'cannot resolve kid';
      const unverified = parseSealedSecretUnverified(`sealed.${text.replace(/^(sealed\.)+/, '')}`);
      return { header: parsed.header, payload: unverified, signature: { status: 'unchecked', detail: why } };
    }
  }
  try {
    const payload = verifyParsed(parsed, key);
    return {
      header: parsed.header,
      payload,
      signature: { status: 'valid', detail: `verified with ${source}` },
    };
  } catch (e) {
    if (!(e instanceof CocosealError)) throw e;
    const unverified = parseSealedSecretUnverified(`sealed.${text.replace(/^(sealed\.)+/, '')}`);
    return {
      header: parsed.header,
      payload: unverified,
      signature: { status: 'invalid', detail: e.toLine() },
    };
  }
}

export function renderInspect(r: InspectReport, format: 'text' | 'json'): string {
  if (format === 'json') return `${JSON.stringify(r, null, 2)}\n`;
  return [
    `header:    ${JSON.stringify(r.header)}`,
    `type:      ${r.payload.type}`,
    `provider:  ${r.payload.provider}`,
    r.payload.type === 'vault' ? `name:      ${r.payload.name}` : `key_id:    ${r.payload.key_id}`,
    `payload:   ${JSON.stringify(r.payload)}`,
    `signature: ${r.signature.status} (${r.signature.detail})`,
    '',
  ].join('\n');
}
