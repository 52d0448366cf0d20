import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { KbsError } from '../errors.js';
import { configFromObject, loadConfigFile } from './config.js';

const minimal = {
  http_server: { sockets: ['0.0.0.0:8080'], insecure_http: true },
  attestation_token: { insecure_header_jwk: true },
  attestation_service: { type: 'coco_as_builtin' },
  admin: { authorization_mode: 'InsecureAllowAll' },
  storage_backend: { storage_type: 'Memory' },
  plugins: [{ name: 'resource' }],
};

const rejects = (doc: unknown, re: RegExp) =>
  assert.throws(
    () => configFromObject(doc, '/base'),
    (e: unknown) => e instanceof KbsError && e.code === 'CONFIG_INVALID' && re.test(e.message),
    String(re),
  );

test('the spec minimal config (§11) loads with upstream defaults', () => {
  const c = configFromObject(minimal, '/base');
  assert.deepEqual(c.httpServer.sockets, [{ host: '0.0.0.0', port: 8080 }]);
  assert.equal(c.httpServer.payloadLimitBytes, 2 * 1024 * 1024);
  assert.equal(c.attestationService?.timeoutMin, 5);
  assert.equal(c.attestationService?.broker.durationMin, 5);
  assert.equal(c.attestationService?.broker.issuerName, 'CoCo-Attestation-Service');
  assert.equal(c.attestationService?.broker.verboseToken, true);
  assert.deepEqual(c.plugins, [{ name: 'resource' }]);
  assert.equal(c.storage.type, 'memory');
});

test('secure defaults: TLS required, Authenticated admin by default', () => {
  rejects({ ...minimal, http_server: {} }, /private_key and certificate are required/);
  const noAdmin = { ...minimal } as Record<string, unknown>;
  delete noAdmin.admin;
  rejects(noAdmin, /AuthenticatedAuthorization.*the default.*bearer_jwt/);
  const tls = configFromObject(
    { ...minimal, http_server: { private_key: 'k.pem', certificate: 'c.pem' } },
    '/base',
  );
  assert.equal(tls.httpServer.privateKey, '/base/k.pem');
  assert.deepEqual(tls.httpServer.sockets, [{ host: '127.0.0.1', port: 8080 }]);
});

test('every bad key is named', () => {
  rejects({ ...minimal, bogus: 1 }, /unknown key bogus/);
  rejects(
    { ...minimal, http_server: { ...minimal.http_server, sockett: [] } },
    /unknown key \[http_server\] sockett/,
  );
  rejects(
    { ...minimal, http_server: { sockets: ['nope'], insecure_http: true } },
    /\[http_server\] sockets: "nope" is not HOST:PORT/,
  );
  rejects(
    { ...minimal, http_server: { insecure_http: 'yes' } },
    /\[http_server\] insecure_http must be true or false/,
  );
  rejects(
    { ...minimal, http_server: { insecure_http: true, payload_request_size: 0 } },
    /payload_request_size/,
  );
  rejects({ ...minimal, admin: { type: 'DenyAll' } }, /legacy key/);
  rejects({ ...minimal, admin: { authorization_mode: 'Open' } }, /authorization_mode must be one of/);
  rejects({ ...minimal, attestation_service: { type: 'coco_as_grpc' } }, /not supported/);
  rejects({ ...minimal, attestation_service: { timeout: 'x' } }, /\[attestation_service\] timeout/);
  rejects({ ...minimal, plugins: [{ name: 'nebula-ca' }] }, /nebula-ca/);
  rejects({ ...minimal, storage_backend: { storage_type: 'Nope' } }, /storage_type/);
  rejects(
    { ...minimal, attestation_service: { type: 'none' }, attestation_token: {} },
    /needs a trust source/,
  );
  rejects(
    {
      ...minimal,
      admin: {
        authorization_mode: 'AuthenticatedAuthorization',
        authentication: { bearer_jwt: { identity_providers: [{ issuer: 'i', public_key_uri: 'k' }] } },
        authorization: { regex_acl: { acls: [{ role: 'r', allowed_endpoints: '.*' }] } },
      },
    },
    /must start with "\^\/kbs"/,
  );
  rejects({ ...minimal, attestation_token: { extra_teekey_paths: ['a/b'] } }, /JSON pointer/);
});

test('config files: TOML, YAML and parse errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kbs-cfg-'));
  try {
    writeFileSync(
      join(dir, 'k.toml'),
      '[http_server]\ninsecure_http = true\n[admin]\nauthorization_mode = "DenyAll"\n[attestation_token]\ninsecure_header_jwk = true\n',
    );
    assert.equal(loadConfigFile(join(dir, 'k.toml')).admin.mode, 'DenyAll');
    writeFileSync(
      join(dir, 'k.yaml'),
      'http_server:\n  insecure_http: true\nadmin:\n  authorization_mode: InsecureAllowAll\n',
    );
    assert.equal(loadConfigFile(join(dir, 'k.yaml')).admin.mode, 'InsecureAllowAll');
    writeFileSync(join(dir, 'bad.toml'), '[http_server\n');
    assert.throws(() => loadConfigFile(join(dir, 'bad.toml')), /does not parse/);
    assert.throws(() => loadConfigFile(join(dir, 'missing.toml')), /cannot read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
