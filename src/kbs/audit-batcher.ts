import type { AuditEntry, AuditLog } from './audit/types.js';

/*
 * Group commit for the audit log. Releases are audited before the secret leaves (fail closed), and a
 * durable append costs an fsync; concurrent requests therefore share one: entries queued during one
 * event-loop turn are written together with `appendMany` when the log offers it (one transaction),
 * otherwise one by one. Every caller still waits for its own record and sees its own failure.
 */

type BatchLog = AuditLog & { appendMany?: (entries: AuditEntry[]) => Promise<unknown> };

interface Pending {
  entry: AuditEntry;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class AuditBatcher {
  #queue: Pending[] = [];
  #scheduled = false;

  constructor(private readonly log: BatchLog) {}

  append(entry: AuditEntry): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ entry: { ...entry, time: entry.time ?? new Date() }, resolve, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#queue;
    this.#queue = [];
    this.#scheduled = false;
    if (batch.length === 0) return;
    if (this.log.appendMany && batch.length > 1) {
      try {
        await this.log.appendMany(batch.map((p) => p.entry));
        for (const p of batch) p.resolve();
      } catch (e) {
        for (const p of batch) p.reject(e);
      }
      return;
    }
    for (const p of batch) {
      try {
        await this.log.append(p.entry);
        p.resolve();
      } catch (e) {
        p.reject(e);
      }
    }
  }
}
