import { buildRecord, GENESIS_HASH, listLimit, verifyChain } from './record.js';
import type { AuditEntry, AuditLog, AuditQuery, AuditRecord, AuditVerifyResult } from './types.js';

/** Audit log for the Memory backend: the same chain, nothing persists. */
export class MemoryAuditLog implements AuditLog {
  readonly #records: AuditRecord[] = [];

  async append(entry: AuditEntry): Promise<AuditRecord> {
    const last = this.#records.at(-1);
    const rec = buildRecord(entry, last ?? { seq: 0, hash: GENESIS_HASH }, new Date());
    this.#records.push(rec);
    return { ...rec };
  }

  async appendMany(entries: AuditEntry[]): Promise<AuditRecord[]> {
    const out: AuditRecord[] = [];
    for (const e of entries) out.push(await this.append(e));
    return out;
  }

  async list(q?: AuditQuery): Promise<AuditRecord[]> {
    const limit = listLimit(q);
    const since = q?.since?.toISOString();
    const out: AuditRecord[] = [];
    for (const r of this.#records) {
      if (q?.afterSeq !== undefined && r.seq <= q.afterSeq) continue;
      if (since !== undefined && r.time < since) continue;
      if (q?.path !== undefined && r.path !== q.path) continue;
      out.push({ ...r });
      if (out.length >= limit) break;
    }
    return out;
  }

  async verify(): Promise<AuditVerifyResult> {
    const last = this.#records.at(-1);
    return verifyChain(
      this.#records,
      last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: GENESIS_HASH },
    );
  }

  async close(): Promise<void> {}
}
