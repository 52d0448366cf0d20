import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseP256PrivateJwk } from '../src/crypto/jwk.js';
import { parsePayload } from '../src/sealed/payload.js';
import { sealPayload } from '../src/sealed/seal.js';
import { type VerificationKeyResolver, verifySealedSecret } from '../src/sealed/sealed-secret.js';
import { vector } from '../test/helpers/paths.js';
import { rate, table } from './harness.js';

// Sealing and verifying sealed secrets, against node:crypto's raw ES256 sign/verify in the same run.
const keyText = readFileSync(vector('test-key.json'), 'utf8');
const key = parseP256PrivateJwk(keyText);
const doc = parsePayload(readFileSync(vector('payloads', 'vault-2.json'), 'utf8'));
const keys: VerificationKeyResolver = { resolve: async () => Buffer.from(keyText) };
const sealed = sealPayload(doc, key, 'test-key');

const raw = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const msg = Buffer.from(sealed.split('.').slice(1, 3).join('.'));
const rawSig = sign('sha256', msg, { key: raw.privateKey, dsaEncoding: 'ieee-p1363' });

const baselineSign = await rate(() =>
  sign('sha256', msg, { key: raw.privateKey, dsaEncoding: 'ieee-p1363' }),
);
const seal = await rate(() => sealPayload(doc, key, 'test-key'));
const baselineVerify = await rate(() =>
  verify('sha256', msg, { key: raw.publicKey, dsaEncoding: 'ieee-p1363' }, rawSig),
);
const unseal = await rate(() => verifySealedSecret(sealed, keys));

table([
  {
    operation: 'seal (RFC 6979 ES256 + JSON)',
    'ops/s': seal.opsPerSec,
    'baseline ops/s': baselineSign.opsPerSec,
    ratio: seal.opsPerSec / baselineSign.opsPerSec,
  },
  {
    operation: 'verify + parse payload',
    'ops/s': unseal.opsPerSec,
    'baseline ops/s': baselineVerify.opsPerSec,
    ratio: unseal.opsPerSec / baselineVerify.opsPerSec,
  },
]);
console.log('baseline: node:crypto (OpenSSL) randomized ES256 sign / verify of the same bytes');
