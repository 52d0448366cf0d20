/**
 * Release audit log: every resource release and denial, every admin change and every attestation
 * outcome, appended to a SHA-256 hash chain (see `record.ts`). Records hold metadata only: never a
 * secret value, a token or a key.
 */

/** `resource`: a resource GET; `admin`: an admin API change; `attestation`: an RCAR `/attest` outcome. */
export type AuditKind = 'resource' | 'admin' | 'attestation';
/** `allow`: released / applied / attested; `deny`: refused or failed. */
export type AuditDecision = 'allow' | 'deny';

/** What a caller appends. Strings are single-line, at most 1024 characters. */
export interface AuditEntry {
  kind: AuditKind;
  decision: AuditDecision;
  /** Why: an error type (`PolicyDeny`, `TokenVerifierError`, …) or a short phrase. */
  reason?: string;
  /** Requester TEE type (`snp`, `tdx`, `sample`, …). */
  tee?: string;
  /** Digest of the evidence or token the decision rested on, `<alg>:<hex>`. */
  evidenceDigest?: string;
  /** Resource path `repo/type/tag`, or the target of an admin change. */
  path?: string;
  policyId?: string;
  /** Digest of the policy text evaluated, `<alg>:<hex>`. */
  policyDigest?: string;
  /** Admin operation (`set-resource`, `set-resource-policy`, …) or `get` for resources. */
  action?: string;
  /** Who asked (admin identity such as a token subject or key id; never the token itself). */
  actor?: string;
  /** Defaults to the time of the append. */
  time?: Date;
}

/** A stored record. Absent fields are `null` so that the canonical encoding is total. */
export interface AuditRecord {
  seq: number;
  /** ISO 8601 UTC with milliseconds, exactly as hashed. */
  time: string;
  kind: AuditKind;
  decision: AuditDecision;
  reason: string | null;
  tee: string | null;
  evidenceDigest: string | null;
  path: string | null;
  policyId: string | null;
  policyDigest: string | null;
  action: string | null;
  actor: string | null;
  /** Hex SHA-256 of the previous record (64 zeros for seq 1). */
  prevHash: string;
  /** Hex SHA-256 over the canonical encoding of this record including `prevHash`. */
  hash: string;
}

export interface AuditQuery {
  /** Only records at or after this time. */
  since?: Date;
  /** Only records with exactly this path. */
  path?: string;
  /** Only records with a sequence number above this (pagination). */
  afterSeq?: number;
  /** At most this many records (default 1000, capped at 10000). */
  limit?: number;
}

export type AuditVerifyResult =
  | { ok: true; count: number; headHash: string }
  | { ok: false; badSeq: number; reason: string };

export interface AuditLog {
  append(entry: AuditEntry): Promise<AuditRecord>;
  /** Appends several entries atomically, in order, in one transaction (one fsync: group commit). */
  appendMany(entries: AuditEntry[]): Promise<AuditRecord[]>;
  /** Records in ascending sequence order. */
  list(query?: AuditQuery): Promise<AuditRecord[]>;
  /** Walks the whole chain; names the first record that was altered, removed or reordered. */
  verify(): Promise<AuditVerifyResult>;
  close(): Promise<void>;
}
