import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { decryptResourceResponse } from '../src/crypto/jwe.js';
import {
  adminJwt,
  b64u,
  sampleAttest,
  startTestKbs,
  type TestKbs,
  teeKeyPair,
} from '../src/kbs/testing/harness.js';

const T = 'https://github.com/confidential-containers/kbs/errors/';

function rvMessage(values: Record<string, unknown>) {
  return {
    version: '0.1.0',
    type: 'sample',
    payload: Buffer.from(JSON.stringify(values)).toString('base64'),
  };
}

describe('admin API: Authenticated (default) mode', () => {
  let kbs: TestKbs;
  before(async () => {
    kbs = await startTestKbs({
      admin: 'Authenticated',
      config: {
        admin: {
          authorization: {
            regex_acl: {
              acls: [
                { role: 'admin', allowed_endpoints: '^/kbs/v0/.+$' },
                { role: 'tester', allowed_endpoints: '^/kbs/v0/reference-value.*$' },
              ],
            },
          },
        },
      },
    });
  });
  after(() => kbs.stop());

  const denied = async (
    r: Promise<{ status: number; json(): unknown }>,
    type: string,
    detail: string | RegExp,
  ) => {
    const res = await r;
    assert.equal(res.status, 401);
    const b = res.json() as { type: string; detail: string };
    assert.equal(b.type, T + type);
    if (typeof detail === 'string') assert.equal(b.detail, detail);
    else assert.match(b.detail, detail);
  };

  test('a valid admin token works; wrong key, expired, missing role, no token are refused', async () => {
    const ok = await kbs.request('POST', '/kbs/v0/resource/a/b/c', {
      body: Buffer.from('x'),
      headers: { authorization: `Bearer ${kbs.adminToken}` },
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['content-type'], 'text/xml');
    const wrong = adminJwt(generateKeyPairSync('ed25519').privateKey);
    await denied(
      kbs.request('POST', '/kbs/v0/resource-policy', {
        body: { policy: b64u('true') },
        headers: { authorization: `Bearer ${wrong}` },
      }),
      'AdminAuthAccess',
      'admin access denied for endpoint resource-policy: Admin access denied: Cannot verify token with any of the issuers',
    );
    await denied(
      kbs.request('POST', '/kbs/v0/resource/a/b/c', {
        body: 'x',
        headers: { authorization: `Bearer ${wrong}` },
      }),
      'AdminAuthInitialization',
      /^failed to initialize \[admin\] configuration: .*Cannot verify token with any of the issuers/,
    );
    const expired = adminJwt(kbs.adminKey!, { exp: Math.floor(Date.now() / 1000) - 120 });
    await denied(
      kbs.request('GET', '/kbs/v0/resource-policy', { headers: { authorization: `Bearer ${expired}` } }),
      'AdminAuthAccess',
      /any of the issuers/,
    );
    const wrongAud = adminJwt(kbs.adminKey!, { aud: 'other' });
    await denied(
      kbs.request('GET', '/kbs/v0/resource-policy', { headers: { authorization: `Bearer ${wrongAud}` } }),
      'AdminAuthAccess',
      /any of the issuers/,
    );
    const noRole = adminJwt(kbs.adminKey!, { role: undefined });
    await denied(
      kbs.request('GET', '/kbs/v0/resource-policy', { headers: { authorization: `Bearer ${noRole}` } }),
      'AdminAuthAccess',
      /Missing required `role` claim in JWT/,
    );
    await denied(kbs.request('GET', '/kbs/v0/resource-policy'), 'AdminAuthAccess', /Bearer token not found/);
  });

  test('role rules: tester may set reference values but not policies', async () => {
    const tester = adminJwt(kbs.adminKey!, { role: 'tester' });
    const ok = await kbs.request('POST', '/kbs/v0/reference-value', {
      body: rvMessage({ svn: ['1'] }),
      headers: { authorization: `Bearer ${tester}` },
    });
    assert.equal(ok.status, 200);
    const get = await kbs.request('GET', '/kbs/v0/reference-value/svn', {
      headers: { authorization: `Bearer ${tester}` },
    });
    assert.deepEqual(get.json(), ['1']);
    await denied(
      kbs.request('POST', '/kbs/v0/resource-policy', {
        body: { policy: b64u('true') },
        headers: { authorization: `Bearer ${tester}` },
      }),
      'AdminAuthAccess',
      'admin access denied for endpoint resource-policy: Admin access denied: Role tester not allowed for path /kbs/v0/resource-policy',
    );
  });
});

describe('admin API: DenyAll', () => {
  test('every admin call is refused with the upstream text', async () => {
    const kbs = await startTestKbs({ admin: 'DenyAll' });
    try {
      const r = await kbs.request('POST', '/kbs/v0/resource-policy', { body: { policy: b64u('true') } });
      assert.equal(r.status, 401);
      assert.match((r.json() as { detail: string }).detail, /DenyAll authorization_mode is enabled$/);
      const p = await kbs.request('DELETE', '/kbs/v0/resource/a/b/c');
      assert.equal((p.json() as { type: string }).type, `${T}AdminAuthInitialization`);
    } finally {
      await kbs.stop();
    }
  });
});

describe('policies', () => {
  let kbs: TestKbs;
  const tee = teeKeyPair();
  const setPolicy = (cel: string) =>
    kbs.request('POST', '/kbs/v0/resource-policy', { body: { policy: b64u(cel) } });
  const getWith = async (token: string, path = 'default/test/secret') =>
    kbs.request('GET', `/kbs/v0/resource/${path}`, { headers: { authorization: `Bearer ${token}` } });

  before(async () => {
    kbs = await startTestKbs();
    await kbs.request('POST', '/kbs/v0/resource/default/test/secret', { body: Buffer.from('shhhhhhh') });
  });
  after(() => kbs.stop());

  test('the default policy denies sample evidence; allow-all releases; deny-all refuses', async () => {
    const { token } = await sampleAttest(kbs, tee.jwk);
    const d = await getWith(token);
    assert.equal(d.status, 401);
    assert.deepEqual(d.json(), { type: `${T}PolicyDeny`, detail: 'Access denied by policy' });
    assert.equal((await setPolicy('data.plugin == "resource"')).status, 200);
    const ok = await getWith(token);
    assert.equal(ok.status, 200);
    assert.equal(decryptResourceResponse(ok.json(), tee.privateKey).toString(), 'shhhhhhh');
    assert.equal((await setPolicy('false')).status, 200);
    assert.equal((await getWith(token)).status, 401);
    const ids = await kbs.request('GET', '/kbs/v0/resource-policy');
    assert.deepEqual(ids.json(), ['resource-policy']);
    const src = (await kbs.request('GET', '/kbs/v0/resource-policy/resource-policy')).json() as {
      policy: string;
    };
    assert.equal(Buffer.from(src.policy, 'base64url').toString(), 'false');
  });

  test('reference values turn the default attestation policy from contraindicated to affirming', async () => {
    assert.equal((await setPolicy('input.submods.cpu0["ear.status"] != "contraindicated"')).status, 200);
    const before1 = await sampleAttest(kbs, tee.jwk);
    assert.equal((await getWith(before1.token)).status, 401);
    const rv = await kbs.request('POST', '/kbs/v0/reference-value', {
      body: rvMessage({ svn: ['1'], launch_digest: ['abcde'], major_version: 1, minimum_minor_version: 1 }),
    });
    assert.equal(rv.status, 200);
    const after1 = await sampleAttest(kbs, tee.jwk);
    const claims = JSON.parse(Buffer.from(after1.token.split('.')[1], 'base64url').toString());
    assert.equal(claims.submods.cpu0['ear.status'], 'affirming');
    assert.deepEqual(claims.submods.cpu0['ear.trustworthiness-vector'], {
      'instance-identity': 0,
      configuration: 2,
      executables: 3,
      'file-system': 0,
      hardware: 2,
      'runtime-opaque': 0,
      'storage-opaque': 0,
      'sourced-data': 0,
    });
    assert.equal((await getWith(after1.token)).status, 200);
  });

  test('a sample device is gpu0 and its status gates the affirming policy', async () => {
    const policy =
      'size(input.submods) > 0 && input.submods.all(k, input.submods[k]["ear.status"] == "affirming")';
    assert.equal((await setPolicy(policy)).status, 200);
    const t1 = await sampleAttest(kbs, tee.jwk, { device: true });
    const c1 = JSON.parse(Buffer.from(t1.token.split('.')[1], 'base64url').toString());
    assert.equal(c1.submods.gpu0['ear.status'], 'contraindicated');
    assert.equal(c1.submods.gpu0['ear.veraison.annotated-evidence'].sampledevice.svn, '2');
    assert.match(
      c1.submods.cpu0['ear.veraison.annotated-evidence'].runtime_data_claims['additional-evidence'],
      /sampledevice/,
    );
    assert.equal((await getWith(t1.token)).status, 401);
    await kbs.request('POST', '/kbs/v0/reference-value', { body: rvMessage({ device_svn: ['2'] }) });
    const t2 = await sampleAttest(kbs, tee.jwk, { device: true });
    assert.equal((await getWith(t2.token)).status, 200);
  });

  test('init-data: digest, cdh.toml claims and agent policy claims reach the policy', async () => {
    const toml = `version = "0.1.0"
algorithm = "sha256"
[data]
"cdh.toml" = '''
[kbc]
name = "cc_kbc"
url = "https://kbs.example"
'''
"policy.rego" = '''
package agent_policy
policy_data := {
  "allowed": ["a", "b"]
}
'''
`;
    const digest = createHash('sha256').update(toml).digest('base64');
    const policy = `data.plugin == "resource" &&
input.submods.cpu0["ear.veraison.annotated-evidence"].init_data == "${digest}" &&
input.submods.cpu0["ear.veraison.annotated-evidence"].init_data_claims["cdh.toml"].kbc.url == "https://kbs.example" &&
"b" in input.submods.cpu0["ear.veraison.annotated-evidence"].init_data_claims.agent_policy_claims.allowed`;
    assert.equal((await setPolicy(policy)).status, 200);
    const withInit = await sampleAttest(kbs, tee.jwk, { initData: toml });
    assert.equal((await getWith(withInit.token)).status, 200);
    const without = await sampleAttest(kbs, tee.jwk);
    assert.equal((await getWith(without.token)).status, 401);
  });

  test('query and path reach data; a TEE-type policy matches only its TEE', async () => {
    const { token } = await sampleAttest(kbs, tee.jwk);
    assert.equal(
      (await setPolicy('data["resource-path"][0] == "default" && data.query.v == "1"')).status,
      200,
    );
    assert.equal((await getWith(token, 'default/test/secret?v=1')).status, 200);
    assert.equal((await getWith(token, 'default/test/secret?v=2')).status, 401);
    await setPolicy('"sample" in input.submods.cpu0["ear.veraison.annotated-evidence"]');
    assert.equal((await getWith(token)).status, 200);
    await setPolicy('"tdx" in input.submods.cpu0["ear.veraison.annotated-evidence"]');
    assert.equal((await getWith(token)).status, 401);
  });

  test('Rego: upstream sample policies map to CEL; anything else points to docs', async () => {
    const allow =
      'package policy\nimport rego.v1\n\ndefault allow := false\n\nallow if {\n\tdata.plugin == "resource"\n}\n';
    assert.equal((await setPolicy(allow)).status, 200);
    const { token } = await sampleAttest(kbs, tee.jwk);
    assert.equal((await getWith(token)).status, 200);
    const r = await setPolicy('package policy\nallow if { input.x == 1 }');
    assert.equal(r.status, 401);
    const b = r.json() as { type: string; detail: string };
    assert.equal(b.type, `${T}PolicyEngineError`);
    assert.match(b.detail, /CEL.*docs\/policies\.md/);
    // The stored policy is unchanged after a failed upload.
    assert.equal((await getWith(token)).status, 200);
    const syntax = await setPolicy('data.plugin ==');
    assert.equal((syntax.json() as { type: string }).type, `${T}PolicyEngineError`);
    const unknown = await setPolicy('inpt.x == 1');
    assert.match((unknown.json() as { detail: string }).detail, /unknown identifier "inpt"/);
    const att = await kbs.request('POST', '/kbs/v0/attestation-policy', {
      body: { type: 'rego', policy_id: 'default_cpu', policy: b64u('package policy\ndefault hardware := 2') },
    });
    assert.equal(att.status, 401);
    assert.match(
      (att.json() as { detail: string }).detail,
      /^Attestation error: Set Attestation Policy failed: .*docs\/policies\.md/,
    );
  });

  test('custom attestation policy and dry runs name the deciding condition', async () => {
    const ap =
      '{"trust_claims": {"hardware": 2, "executables": 3}, "extensions": {"ear.trustee.identifiers": {"tee": tee}}}';
    const set = await kbs.request('POST', '/kbs/v0/attestation-policy', {
      body: { type: 'cel', policy_id: 'default_cpu', policy: b64u(ap) },
    });
    assert.equal(set.status, 200, set.text());
    const { token } = await sampleAttest(kbs, tee.jwk);
    const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
    assert.equal(claims.submods.cpu0['ear.status'], 'affirming');
    assert.deepEqual(claims.submods.cpu0['ear.trustee.identifiers'], { tee: 'sample' });
    const bad = await kbs.request('POST', '/kbs/v0/attestation-policy', {
      body: { policy_id: 'default_cpu', policy: b64u('{"nope": 2}') },
    });
    assert.equal(bad.status, 200, 'unknown trust claims are caught at evaluation');
    const fail = await kbs.request('POST', '/kbs/v0/auth', {
      body: { version: '0.4.0', tee: 'sample', 'extra-params': '' },
    });
    assert.equal(fail.status, 200);
    await assert.rejects(sampleAttest(kbs, tee.jwk), /attest failed: 401/);
    await kbs.request('POST', '/kbs/v0/attestation-policy', {
      body: { policy_id: 'default_cpu', policy: b64u(ap) },
    });

    const policy =
      'data.plugin == "resource" && input.submods.cpu0["ear.status"] == "affirming" && data.query.x == "1"';
    const dr = await kbs.request('POST', '/kbs/v0/resource-policy/check', {
      body: { policy: b64u(policy), token, path: 'default/test/secret', query: { x: '2' } },
    });
    assert.equal(dr.status, 200, dr.text());
    const rep = dr.json() as Record<string, unknown>;
    assert.equal(rep.allow, false);
    assert.equal(rep.decided_by, 'data.query.x == "1"');
    assert.deepEqual(rep.token, { valid: true });
    assert.equal(rep.path_valid, true);
    const dr2 = await kbs.request('POST', '/kbs/v0/policy-dry-run', {
      body: { policy_text: policy, claims: claims, path: 'default/test/secret', query: { x: '1' } },
    });
    assert.equal((dr2.json() as { allow: boolean }).allow, true);
    const dr3 = await kbs.request('POST', '/kbs/v0/policy-dry-run', {
      body: {
        kind: 'attestation',
        policy_id: 'default_gpu',
        tee: 'sampledevice',
        evidence: { sampledevice: { svn: '9' } },
      },
    });
    assert.deepEqual((dr3.json() as { status: string; reference_values: unknown }).status, 'contraindicated');
  });

  test('audit log records releases and admin changes, and verifies', async () => {
    const list = await kbs.request('GET', '/kbs/v0/audit?limit=1000');
    assert.equal(list.status, 200);
    const recs = list.json() as {
      kind: string;
      decision: string;
      path: string | null;
      action: string | null;
    }[];
    assert.ok(
      recs.some((r) => r.kind === 'resource' && r.decision === 'allow' && r.path === 'default/test/secret'),
    );
    assert.ok(recs.some((r) => r.kind === 'resource' && r.decision === 'deny'));
    assert.ok(recs.some((r) => r.kind === 'admin' && r.action === 'set-resource-policy'));
    assert.ok(recs.some((r) => r.kind === 'attestation' && r.decision === 'allow'));
    assert.ok(!JSON.stringify(recs).includes('shhhhhhh'));
    const v = await kbs.request('GET', '/kbs/v0/audit/verify');
    assert.equal((v.json() as { ok: boolean }).ok, true);
  });
});
