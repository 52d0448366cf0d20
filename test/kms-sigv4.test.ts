import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import {
  canonicalRequest,
  type IncomingSigned,
  signingKey,
  stringToSign,
  verifySigV4,
} from './fixtures/kms/sigv4.js';

/*
 * The SigV4 verifier of the AWS mock, checked against AWS's published examples (the documented
 * example credentials AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY at 20150830T123600Z):
 * - "get-vanilla" and "get-vanilla-query-order-key-case" from the AWS SigV4 test suite;
 * - the IAM ListUsers example of the "Signature Version 4 signing process" pages, including its
 *   published canonical-request hash and derived signing key.
 */

const SECRET = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
const NOW = new Date(Date.UTC(2015, 7, 30, 12, 36, 0));
const CREDS = new Map([['AKIDEXAMPLE', { secretAccessKey: SECRET }]]);
const EMPTY = Buffer.alloc(0);

function suiteRequest(query: string, signature: string): IncomingSigned {
  return {
    method: 'GET',
    path: '/',
    query,
    headers: {
      host: 'example.amazonaws.com',
      'x-amz-date': '20150830T123600Z',
      authorization: `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=${signature}`,
    },
    body: EMPTY,
  };
}

const opts = { credentials: CREDS, region: 'us-east-1', service: 'service', now: NOW };

test('AWS test suite get-vanilla and get-vanilla-query-order-key-case verify', () => {
  assert.deepEqual(
    verifySigV4(suiteRequest('', '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31'), opts),
    { ok: true, accessKeyId: 'AKIDEXAMPLE' },
  );
  assert.equal(
    verifySigV4(
      suiteRequest(
        'Param2=value2&Param1=value1',
        'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500',
      ),
      opts,
    ).ok,
    true,
  );
});

test('AWS IAM ListUsers example: canonical request hash, signing key and signature', () => {
  const req: IncomingSigned = {
    method: 'GET',
    path: '/',
    query: 'Action=ListUsers&Version=2010-05-08',
    headers: {
      host: 'iam.amazonaws.com',
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      'x-amz-date': '20150830T123600Z',
      authorization:
        'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7',
    },
    body: EMPTY,
  };
  const emptyHash = createHash('sha256').update('').digest('hex');
  const canonical = canonicalRequest(req, ['content-type', 'host', 'x-amz-date'], emptyHash);
  assert.equal(
    createHash('sha256').update(canonical).digest('hex'),
    'f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59',
  );
  assert.equal(
    signingKey(SECRET, '20150830', 'us-east-1', 'iam').toString('hex'),
    'c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9',
  );
  assert.match(
    stringToSign('20150830T123600Z', '20150830/us-east-1/iam/aws4_request', canonical),
    /^AWS4-HMAC-SHA256\n/,
  );
  assert.equal(verifySigV4(req, { ...opts, service: 'iam' }).ok, true);
});

test('tampering with anything signed, the key, the scope or the clock is rejected', () => {
  const good = () => suiteRequest('', '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
  const reject = (req: IncomingSigned, o = opts, type = 'InvalidSignatureException') => {
    const r = verifySigV4(req, o);
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.errorType, type);
  };
  reject({ ...good(), query: 'x=1' });
  reject({ ...good(), method: 'POST' });
  reject({ ...good(), headers: { ...good().headers, host: 'evil.example.com' } });
  reject({ ...good(), body: Buffer.from('x') });
  reject(good(), { ...opts, credentials: new Map([['AKIDEXAMPLE', { secretAccessKey: 'other' }]]) });
  reject(good(), { ...opts, credentials: new Map() }, 'UnrecognizedClientException');
  reject(good(), { ...opts, region: 'eu-west-1' });
  reject(good(), { ...opts, now: new Date(NOW.getTime() + 16 * 60_000) });
  reject(
    { ...good(), headers: { ...good().headers, authorization: 'Bearer x' } },
    opts,
    'IncompleteSignatureException',
  );
  reject(
    good(),
    { ...opts, credentials: new Map([['AKIDEXAMPLE', { secretAccessKey: SECRET, sessionToken: 't' }]]) },
    'UnrecognizedClientException',
  );
});
