import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { SampleAttester } from '../src/attestation/attesters/sample.js';
import { encryptResourceResponse } from '../src/crypto/jwe.js';
import { startTestKbs } from '../src/kbs/testing/harness.js';
import { KbsAdminClient } from '../src/kbs-client/admin.js';
import { KbsHttp } from '../src/kbs-client/http.js';
import { NAMED_RESOURCE_POLICIES } from '../src/kbs-client/policies.js';
import { RcarClient } from '../src/kbs-client/rcar.js';
import { TeeKeyPair } from '../src/kbs-client/tee-key.js';
import { needs, skipUnless } from './helpers/components.js';
import { repoRoot, vector } from './helpers/paths.js';

/*
 * Our KBS's resource responses (flattened JWE, kbs-protocol.md §6.4) decrypted by python-jwcrypto,
 * an independent JOSE implementation, with the TEE private key in the PEM form the AA hands out.
 */

const SCRIPT = join(repoRoot, 'test', 'fixtures', 'jwcrypto_decrypt.py');

function jwcryptoDecrypt(jwe: unknown, keyPem: string, algs?: string[]): Buffer {
  const r = spawnSync('/usr/bin/python3', [SCRIPT], {
    input: JSON.stringify({ jwe, key_pem: keyPem, algs }),
    encoding: 'utf8',
    timeout: 30_000,
  });
  assert.equal(r.status, 0, `jwcrypto failed: ${r.stderr}`);
  return Buffer.from(r.stdout, 'base64');
}

describe('JWE interop with python-jwcrypto', { skip: skipUnless(needs.jwcrypto) }, () => {
  test('the shared vector decrypts', () => {
    const v = JSON.parse(readFileSync(vector('jwe-ecdh-es.json'), 'utf8'));
    assert.equal(
      jwcryptoDecrypt(v.response_body, v.tee_private_pkcs8_pem).toString('utf8'),
      v.plaintext_utf8,
    );
  });

  for (const alg of ['P-256', 'P-521', 'RSA-2048'] as const) {
    test(`responses for a ${alg} TEE key decrypt`, async () => {
      const key = await TeeKeyPair.generate(alg);
      const secret = randomBytes(48);
      const jwe = encryptResourceResponse(key.publicJwk, secret);
      assert.deepEqual(jwcryptoDecrypt(jwe, key.toPem()), secret);
    });
  }

  test('RSA1_5 responses decrypt when the algorithm is allowed', async () => {
    const key = await TeeKeyPair.generate('RSA-2048');
    const secret = randomBytes(16);
    const jwe = encryptResourceResponse({ ...key.publicJwk, alg: 'RSA1_5' }, secret);
    assert.deepEqual(jwcryptoDecrypt(jwe, key.toPem(), ['RSA1_5', 'A256GCM']), secret);
  });

  test('responses from a running KBS decrypt (P-256, P-521, RSA-OAEP-256 TEE keys)', async () => {
    const kbs = await startTestKbs();
    const http = new KbsHttp({ url: kbs.url, extraRootCertsPem: kbs.caPem });
    const admin = new KbsAdminClient({ url: kbs.url, extraRootCertsPem: kbs.caPem });
    try {
      const secret = randomBytes(32);
      await admin.setResource('default/interop/secret', secret);
      await admin.setResourcePolicy(NAMED_RESOURCE_POLICIES['allow-all']);
      for (const alg of ['P-256', 'P-521', 'RSA-2048'] as const) {
        const teeKey = await TeeKeyPair.generate(alg);
        const rcar = new RcarClient({
          http,
          evidence: { primary: new SampleAttester(), additional: [] },
          teeKey,
        });
        const { token } = await rcar.attest();
        const res = await http.request({
          method: 'GET',
          path: '/resource/default/interop/secret',
          headers: { authorization: `Bearer ${token.raw}` },
        });
        assert.equal(res.status, 200, res.body.toString());
        assert.deepEqual(jwcryptoDecrypt(JSON.parse(res.body.toString('utf8')), teeKey.toPem()), secret, alg);
      }
    } finally {
      admin.close();
      http.close();
      await kbs.stop();
    }
  });
});
