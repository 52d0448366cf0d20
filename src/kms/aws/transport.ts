import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { awsFailed } from './credential.js';

/*
 * Where the AWS clients connect and whom they trust.
 *
 * - Endpoint: `provider_settings.endpoint` (ours, optional), else the standard AWS variables
 *   `AWS_ENDPOINT_URL_KMS` / `AWS_ENDPOINT_URL_SECRETS_MANAGER`, else `AWS_ENDPOINT_URL`, else the SDK's
 *   regional endpoint. Used for VPC endpoints, FIPS endpoints and the loopback test mock.
 * - Trust: the system roots, or only the PEM bundle named by `AWS_CA_BUNDLE` (the variable the AWS CLI
 *   uses) when set.
 * - HTTPS only; plain HTTP is accepted for loopback addresses (local emulators), nothing else.
 */

export type AwsService = 'kms' | 'secretsmanager';

const ENDPOINT_ENV: Record<AwsService, string> = {
  kms: 'AWS_ENDPOINT_URL_KMS',
  secretsmanager: 'AWS_ENDPOINT_URL_SECRETS_MANAGER',
};

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

export function resolveEndpoint(service: AwsService, fromSettings: unknown): string | undefined {
  if (fromSettings !== undefined && typeof fromSettings !== 'string') {
    throw awsFailed('provider_settings.endpoint must be a string');
  }
  const raw = fromSettings || process.env[ENDPOINT_ENV[service]] || process.env.AWS_ENDPOINT_URL || undefined;
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw awsFailed(`endpoint ${JSON.stringify(raw)} is not a URL`);
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw awsFailed(`endpoint ${raw} must use https (plain http only on loopback)`);
  }
  return raw;
}

/** The request handler options shared by the KMS and Secrets Manager clients. */
export function requestHandlerOptions(): {
  httpsAgent: Agent;
  connectionTimeout: number;
  requestTimeout: number;
} {
  const bundle = process.env.AWS_CA_BUNDLE;
  let ca: string | undefined;
  if (bundle) {
    try {
      ca = readFileSync(bundle, 'utf8');
    } catch (e) {
      throw awsFailed(`cannot read AWS_CA_BUNDLE ${bundle}`, e);
    }
  }
  return {
    httpsAgent: new Agent({ keepAlive: true, ...(ca ? { ca } : {}) }),
    connectionTimeout: 5_000,
    requestTimeout: 15_000,
  };
}

const CREDENTIAL_ERRORS = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignatureException',
  'MissingAuthenticationTokenException',
  'ExpiredTokenException',
  'InvalidClientTokenId',
  'SignatureDoesNotMatch',
  'AccessDeniedException',
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/** One line saying why an SDK call failed, without secrets (AWS error messages hold none). */
export function describeAwsError(e: unknown, endpoint: string | undefined): string {
  const err = e as {
    name?: string;
    message?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
  };
  const name = err?.name ?? 'Error';
  const message = err?.message ?? String(e);
  const code = err?.code ?? /\b(E[A-Z]{4,}|[A-Z_]*CERT[A-Z_]*|ERR_TLS_[A-Z_]+)\b/.exec(message)?.[1];
  const where = endpoint ?? 'the regional AWS endpoint';
  if (CREDENTIAL_ERRORS.has(name)) return `credentials or signature rejected (${name}: ${message})`;
  if (name === 'NotFoundException' || name === 'ResourceNotFoundException')
    return `not found (${name}: ${message})`;
  if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException') {
    return `ciphertext rejected: wrong key, wrong encryption context or tampered data (${name})`;
  }
  if (name === 'TimeoutError' || (code && NETWORK_CODES.has(code))) {
    return `endpoint ${where} unreachable (${code ?? name})`;
  }
  if (code && /CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code))
    return `TLS verification of ${where} failed (${code})`;
  const status = err?.$metadata?.httpStatusCode;
  return `${name}${status ? ` (HTTP ${status})` : ''}: ${message}`;
}
