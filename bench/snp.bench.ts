/*
 * SEV-SNP verification cost: cold (certificate caches empty: parse, extensions, three RSA-PSS
 * chain signatures) and warm (parsed certificates and verified chains cached), against a baseline
 * measured in the same run: the one ECDSA P-384 report verification no cache can skip.
 * Run: `npx tsx bench/snp.bench.ts` (or `npm run bench snp`).
 */
import { verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  certFromBytes,
  clearCertCaches,
  parseSnpEvidence,
  SnpVerifier,
} from '../src/attestation/snp/index.js';
import { vector } from '../test/helpers/paths.js';
import { rate, table } from './harness.js';

const evidenceText = readFileSync(vector('tee', 'snp', 'genoa-v3-vcek', 'evidence.json'), 'utf8');
const evidence = JSON.parse(evidenceText);
const rawReport = new Uint8Array(readFileSync(vector('tee', 'snp', 'genoa-v3-vcek', 'report.bin')));
const vcek = new Uint8Array(readFileSync(vector('tee', 'snp', 'genoa-v3-vcek', 'vcek.der')));
const now = new Date('2026-01-01T00:00:00Z');
const verifier = new SnpVerifier();
await verifier.ready();

// Baseline: exactly the report-signature check, with the key and signature already prepared.
const key = certFromBytes(vcek, 'vcek').publicKey;
const sig = Buffer.alloc(96);
sig.set(Uint8Array.from(rawReport.subarray(0x2a0, 0x2a0 + 48)).reverse(), 0);
sig.set(Uint8Array.from(rawReport.subarray(0x2e8, 0x2e8 + 48)).reverse(), 48);
const signed = rawReport.subarray(0, 0x2a0);
if (!verify('sha384', signed, { key, dsaEncoding: 'ieee-p1363' }, sig)) throw new Error('baseline broken');

const baseline = await rate(() => verify('sha384', signed, { key, dsaEncoding: 'ieee-p1363' }, sig));
const parse = await rate(() => parseSnpEvidence(evidence));
const warmJson = await rate(() => verifier.verify(evidence, { now }));
const warmRaw = await rate(() => verifier.verify(rawReport, { now, vek: vcek }));
const cold = await rate(async () => {
  clearCertCaches();
  await verifier.verify(evidence, { now });
}, 2000);

const row = (name: string, r: { opsPerSec: number }) => ({
  case: name,
  'ops/s': r.opsPerSec,
  'µs/op': 1e6 / r.opsPerSec,
  'time vs baseline': baseline.opsPerSec / r.opsPerSec,
});
table([
  row('baseline: 1 × ECDSA P-384 verify', baseline),
  row('parse Trustee JSON → 1184-byte report', parse),
  row('verify JSON evidence, warm caches', warmJson),
  row('verify raw report + VCEK, warm caches', warmRaw),
  row('verify JSON evidence, cold caches', cold),
]);
