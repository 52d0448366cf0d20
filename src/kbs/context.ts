import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../common/log.js';
import type { AdminAuthorizer } from './admin/auth.js';
import type { ReferenceValues } from './as/rvps.js';
import type { AttestationService } from './as/service.js';
import type { AuditEntry, AuditLog } from './audit/types.js';
import type { AuditBatcher } from './audit-batcher.js';
import type { KbsConfig } from './config/config.js';
import type { KbsMetrics } from './http/metrics.js';
import type { AttestationPolicyStore } from './policy/attestation-policy.js';
import type { ResourcePolicyStore } from './policy/resource-policy.js';
import type { Sessions } from './rcar/sessions.js';
import type { JwePool } from './resource/jwe-pool.js';
import type { Storage } from './storage/storage.js';
import type { TokenVerifier, VerifiedToken } from './token/verifier.js';

/** Everything a handler needs, built once at startup. */
export interface KbsDeps {
  config: KbsConfig;
  storage: Storage;
  sessions: Sessions;
  /** Absent on a passport resource KBS (no built-in AS). */
  as?: AttestationService;
  attestationPolicies?: AttestationPolicyStore;
  rvps?: ReferenceValues;
  resourcePolicies: ResourcePolicyStore;
  tokens: TokenVerifier;
  admin: AdminAuthorizer;
  audit?: AuditLog;
  /** Group-committing front of `audit` (same records). */
  auditBatch?: AuditBatcher;
  metrics: KbsMetrics;
  log: Logger;
  /** Where resource-response JWEs are built (worker threads or inline). */
  jwe: JwePool;
  /** Milliseconds since the epoch (injectable for tests). */
  clock: () => number;
  /** Whether `[[plugins]] name = "resource"` is configured. */
  resourcePlugin: boolean;
}

/**
 * What a keep-alive connection remembers between its requests: a client sends the same credentials
 * on every request, so they are parsed and verified once per connection rather than per request. Only
 * a successful verification is kept; its expiry is re-checked on every request.
 */
export interface ConnMemo {
  /** The last verified token, its verification, and the `Authorization` value it came in (if any). */
  jwt?: string;
  token?: VerifiedToken;
  authorization?: string;
}

/** One request, after routing and body reading. */
export interface RequestCtx {
  method: string;
  /** Raw request target (path and query), as the admin ACL sees it. */
  target: string;
  /** Path segments after `/kbs/v0/` (raw, not percent-decoded). */
  segments: string[];
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** This request's connection (absent outside the HTTP server, e.g. in unit tests). */
  conn?: ConnMemo;
  /** Set by handlers for the access log (first 8 characters only). */
  sessionPrefix?: string;
}

export interface Reply {
  status: number;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
}

export const EMPTY_OK: Reply = { status: 200 };

export function jsonReply(value: unknown, headers?: Record<string, string | string[]>): Reply {
  return {
    status: 200,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(value),
  };
}

/** Appends to the audit log; a failure is logged (callers that must fail closed await `auditStrict`). */
export async function audit(deps: KbsDeps, entry: AuditEntry): Promise<void> {
  if (!deps.auditBatch) return;
  try {
    await deps.auditBatch.append(entry);
  } catch (e) {
    deps.log.log('error', 'audit append failed', { code: (e as { code?: string }).code, kind: entry.kind });
  }
}

/** Appends and rethrows: a secret is never released without its audit record. */
export async function auditStrict(deps: KbsDeps, entry: AuditEntry): Promise<void> {
  if (!deps.auditBatch) return;
  await deps.auditBatch.append(entry);
}

/** One-line, control-free text for the audit log (upstream-style reasons may carry user input). */
export function auditText(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f]/g, ' ').slice(0, 1000);
}
