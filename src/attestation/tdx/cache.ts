import { createHash } from 'node:crypto';

/*
 * Parsed and signature-checked artefacts (certificate chains, CRLs, collateral) are memoized in
 * bounded LRU maps keyed by a SHA-256 digest of their exact bytes (see src/common/lru.ts).
 */
export { Lru as DigestCache } from '../../common/lru.js';

/** SHA-256 over the parts, each length-prefixed so that different splits never collide. */
export function digestOf(...parts: (Uint8Array | string | undefined)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    const b = p === undefined ? Buffer.alloc(0) : typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
    const len = Buffer.alloc(5);
    len.writeUInt32BE(b.length, 1);
    len[0] = p === undefined ? 0 : 1;
    h.update(len).update(b);
  }
  return h.digest('hex');
}
