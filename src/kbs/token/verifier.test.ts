import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EarSigner } from '../../attestation/ear/token.js';
import type { AttestationTokenConfig } from '../config/config.js';
import { buildCertificate } from '../init/x509.js';
import { teeKeyPair } from '../testing/harness.js';
import { TokenRejected, TokenVerifier } from './verifier.js';

const der = (pem: string) => new X509Certificate(pem).raw.toString('base64');
const cfg = (over: Partial<AttestationTokenConfig> = {}): AttestationTokenConfig => ({
  trustedJwkSets: [],
  trustedCertsPaths: [],
  extraTeekeyPaths: [],
  insecureHeaderJwk: false,
  cacheSize: 16,
  ...over,
});

test('token trust: x5c chains to a trusted CA, key/chain mismatches, insecure header jwk, expiry, cache', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kbs-tv-'));
  try {
    const ca = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const caPem = buildCertificate({
      subjectCn: 'AS CA',
      publicKey: ca.publicKey,
      issuerKey: ca.privateKey,
      days: 30,
      ca: true,
    });
    writeFileSync(join(dir, 'ca.pem'), caPem);
    const leaf = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const leafPem = buildCertificate({
      subjectCn: 'AS signer',
      publicKey: leaf.publicKey,
      issuerKey: ca.privateKey,
      issuerCert: new X509Certificate(caPem),
      days: 30,
    });
    const tee = teeKeyPair();
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      exp: now + 300,
      'tee-pubkey': tee.jwk,
      submods: { cpu0: { 'ear.veraison.annotated-evidence': { snp: {} } } },
    };
    const v = new TokenVerifier(cfg({ trustedCertsPaths: [join(dir, 'ca.pem')] }));
    await v.init();

    for (const x5c of [[der(leafPem)], [der(leafPem), der(caPem)]]) {
      const t = new EarSigner(leaf.privateKey, { x5c }).sign(claims);
      const r = v.verify(t);
      assert.deepEqual(r.teeKey.jwk, tee.jwk);
      assert.equal(r.tee, 'snp');
      assert.equal(v.verify(t), r, 'second verification is a cache hit');
    }
    const rejects = (t: string, re: RegExp, verifier = v) =>
      assert.throws(
        () => verifier.verify(t),
        (e: unknown) => e instanceof TokenRejected && re.test(e.message),
      );
    // A key that is not the certificate's.
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    rejects(new EarSigner(other.privateKey, { x5c: [der(leafPem)] }).sign(claims), /leaf key differs/);
    // A self-signed chain not under the trusted CA; no chain at all.
    const selfPem = buildCertificate({
      subjectCn: 'x',
      publicKey: other.publicKey,
      issuerKey: other.privateKey,
      days: 1,
    });
    rejects(new EarSigner(other.privateKey, { x5c: [der(selfPem)] }).sign(claims), /trusted certificate/);
    rejects(new EarSigner(other.privateKey).sign(claims), /no x5c/);
    // Expired and exp-less tokens.
    rejects(
      new EarSigner(leaf.privateKey, { x5c: [der(leafPem)] }).sign({ ...claims, exp: now - 61 }),
      /expired/,
    );
    rejects(
      new EarSigner(leaf.privateKey, { x5c: [der(leafPem)] }).sign({ ...claims, exp: undefined }),
      /exp/,
    );
    // No TEE key in the claims.
    rejects(
      new EarSigner(leaf.privateKey, { x5c: [der(leafPem)] }).sign({ exp: now + 60 }),
      /no TEE public key/,
    );
    rejects('x.y.z', /not base64url JSON|malformed/);

    // insecure_header_jwk trusts any header key; the own signer is always trusted.
    const insecure = new TokenVerifier(cfg({ insecureHeaderJwk: true }));
    await insecure.init();
    assert.ok(insecure.verify(new EarSigner(other.privateKey).sign(claims)));
    const own = new EarSigner(other.privateKey);
    const withOwn = new TokenVerifier(cfg(), own);
    assert.ok(withOwn.verify(own.sign(claims)));
    rejects(new EarSigner(leaf.privateKey).sign(claims), /no trusted_certs_paths/, withOwn);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
