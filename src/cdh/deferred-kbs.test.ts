import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rootCertificates } from 'node:tls';
import { selectAttesters } from '../attestation/attesters/evidence-source.js';
import { KbsHttp } from '../kbs-client/http.js';
import { KmsError } from '../kms/errors.js';
import { checkKbsEndpoint, DeferredKbsResourceGetter } from './deferred-kbs.js';

const goodPem = rootCertificates[0];

/** What the KBS client's constructor throws for these inputs (or undefined), as `CODE: message`. */
function viaClient(url: string, pems: string[]): string | undefined {
  try {
    new KbsHttp({ url, extraRootCertsPem: pems });
    return undefined;
  } catch (e) {
    return (e as KmsError).toLine();
  }
}

function viaCheck(url: string, pems: string[]): string | undefined {
  try {
    checkKbsEndpoint(url, pems);
    return undefined;
  } catch (e) {
    return (e as KmsError).toLine();
  }
}

test('the start-time check rejects exactly what the KBS client would, with the same error', () => {
  const cases: Array<[string, string[]]> = [
    ['https://kbs.example:8080', []],
    ['http://[::1]:8080/', []],
    [' https://kbs/prefix/ ', []],
    ['not a url', []],
    ['ftp://kbs', []],
    ['https://user:pw@kbs', []],
    ['https://kbs?x=1', []],
    ['https://kbs#f', []],
    ['https://kbs', ['no pem here']],
    ['https://kbs', ['-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----']],
    ['https://kbs', [goodPem]],
    ['https://kbs', [`${goodPem}\n${goodPem}`]],
  ];
  for (const [url, pems] of cases) assert.equal(viaCheck(url, pems), viaClient(url, pems), `${url} ${pems}`);
  assert.equal(viaCheck('https://kbs', [goodPem]), undefined);
});

test('the deferred getter refuses a bad endpoint at construction and builds the client on first use', async () => {
  const evidence = selectAttesters({ env: {}, warn: () => {} });
  assert.throws(
    () => new DeferredKbsResourceGetter({ url: 'ftp://kbs', extraRootCertsPem: [], evidence }),
    /INVALID_ARGUMENT|must use http/,
  );
  // Nothing listens on port 1: the first fetch builds the client, which then reports the KBS unreachable.
  const g = new DeferredKbsResourceGetter({
    url: 'http://127.0.0.1:1',
    extraRootCertsPem: [],
    evidence,
    attestAttempts: 1,
  });
  await assert.rejects(
    g.get('kbs:///default/key/1'),
    (e) => e instanceof KmsError && e.code === 'KBS_UNREACHABLE',
  );
});
