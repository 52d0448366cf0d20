/*
 * TDX verification cost: cold (every cache empty) and warm (chains, CRLs and collateral cached),
 * against a baseline measured in the same run: the two ECDSA P-256 verifications (quote and QE
 * report) that no cache can skip. Run: `npx tsx bench/tdx.bench.ts`.
 */
import { createPublicKey, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { clearTdxCaches, parseQuote, TdxVerifier } from '../src/attestation/tdx/index.js';
import { parseCertificates } from '../src/attestation/x509.js';
import { vector } from '../test/helpers/paths.js';

const quoteBytes = readFileSync(vector('tee', 'tdx', 'phala-v4-uptodate', 'quote.bin'));
const collateral = vector('tee', 'tdx', 'phala-v4-uptodate', 'collateral.json');
const now = new Date('2025-07-01T00:00:00Z');
const verifier = new TdxVerifier();

async function time(label: string, iterations: number, fn: () => unknown): Promise<number> {
  for (let i = 0; i < Math.min(20, iterations); i++) await fn(); // warm the JIT
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await fn();
  const us = Number(process.hrtime.bigint() - t0) / 1000 / iterations;
  console.log(`${label.padEnd(44)} ${us.toFixed(1).padStart(9)} µs/op  (${iterations} ops)`);
  return us;
}

const q = parseQuote(quoteBytes);
const [leaf] = parseCertificates(q.pckChainPem);
const attKey = createPublicKey({
  key: {
    kty: 'EC',
    crv: 'P-256',
    x: Buffer.from(q.attestationKey.subarray(0, 32)).toString('base64url'),
    y: Buffer.from(q.attestationKey.subarray(32)).toString('base64url'),
  },
  format: 'jwk',
});

const baseline = await time('baseline: 2 × ECDSA P-256 verify', 2000, () => {
  verify('sha256', q.signedRegion, { key: attKey, dsaEncoding: 'ieee-p1363' }, q.signature);
  verify('sha256', q.qeReport.raw, { key: leaf.publicKey, dsaEncoding: 'ieee-p1363' }, q.qeReportSignature);
});
const cold = await time('verify, cold caches (collateral from disk)', 100, async () => {
  clearTdxCaches();
  await verifier.verify(quoteBytes, { now, collateral });
});
const warm = await time('verify, warm caches (collateral from disk)', 2000, () =>
  verifier.verify(quoteBytes, { now, collateral }),
);
console.log(
  `\ncold / baseline = ${(cold / baseline).toFixed(1)}×   warm / baseline = ${(warm / baseline).toFixed(1)}×`,
);
