/** Small benchmark helpers: timed loops, percentiles, bulk data. Figures are reported as ratios to a baseline. */
import { randomBytes } from 'node:crypto';

export interface Rate {
  opsPerSec: number;
  iterations: number;
}

/** Runs `fn` repeatedly for about `ms` milliseconds (after a short warm-up) and returns its rate. */
export async function rate(fn: () => unknown | Promise<unknown>, ms = 1000): Promise<Rate> {
  const warm = Date.now() + Math.min(200, ms / 5);
  while (Date.now() < warm) await fn();
  let iterations = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < end) {
    await fn();
    iterations++;
    if ((iterations & 15) === 0) now = process.hrtime.bigint();
  }
  now = process.hrtime.bigint();
  return { opsPerSec: (iterations * 1e9) / Number(now - start), iterations };
}

export function percentile(sortedMs: number[], p: number): number {
  if (sortedMs.length === 0) return Number.NaN;
  return sortedMs[Math.min(sortedMs.length - 1, Math.floor((p / 100) * sortedMs.length))];
}

export function table(rows: Record<string, string | number>[]): void {
  console.table(
    rows.map((r) =>
      Object.fromEntries(
        Object.entries(r).map(([k, v]) => [k, typeof v === 'number' ? Number(v.toPrecision(4)) : v]),
      ),
    ),
  );
}

/** Resource path of bulk-loaded entry i: `repo/type/tag`, spread over 1000 repositories. */
export const benchResourcePath = (i: number) => `bench${i % 1000}/secret/${i}`;

/**
 * Bulk-load entries [from, to) of `valueBytes` each; each value starts with its index (big-endian
 * u32), so a read can be checked against its path.
 */
export function* benchEntries(from: number, to: number, valueBytes: number): Iterable<[string, Uint8Array]> {
  const base = randomBytes(valueBytes);
  for (let i = from; i < to; i++) {
    const v = Buffer.from(base);
    v.writeUInt32BE(i, 0);
    yield [benchResourcePath(i), v];
  }
}
