import type { AuditEntry, AuditLog } from './audit/types.js';

/*
 * Group commit for the audit log. Releases are audited before the secret leaves (fail closed), and a
 * durable append costs an fsync; concurrent requests therefore share one. One write is in flight at a
 * time; entries that arrive meanwhile are written together by the next `appendMany` (one transaction).
 * Every caller still waits for its own record and sees its own failure.
 */

interface Pending {
  entry: AuditEntry;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** PostgreSQL allows 65 535 bind parameters per statement; 14 per record. */
const MAX_BATCH = 1000;

export class AuditBatcher {
  #queue: Pending[] = [];
  #running = false;

  constructor(private readonly log: AuditLog) {}

  append(entry: AuditEntry): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ entry: { ...entry, time: entry.time ?? new Date() }, resolve, reject });
      if (!this.#running) {
        this.#running = true;
        // Let the rest of this event-loop turn queue its entries first.
        setImmediate(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, MAX_BATCH);
      try {
        await this.log.appendMany(batch.map((p) => p.entry));
        for (const p of batch) p.resolve();
      } catch (e) {
        for (const p of batch) p.reject(e);
      }
    }
    this.#running = false;
  }
}
