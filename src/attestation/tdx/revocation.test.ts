import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject, sign, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { vector } from '../../../test/helpers/paths.js';
import { AttestationError } from '../errors.js';
import { parseCertificates } from '../x509.js';
import { parsePckExtensions } from './pck.js';
import { parseQuote } from './quote.js';
import { verifyTdxEvidence } from './verifier.js';

/*
 * Revocation and TCB statuses the recorded samples cannot show (no real quote has a revoked PCK).
 * A private PKI with the same shape as Intel's (root → PCK Platform CA → PCK, root → TCB Signing)
 * re-signs a real quote body and the real phala-v4 collateral documents; the verifier is pointed at
 * this root with `rootCaPem`. Everything else (parsing, matching) runs unchanged.
 */

// ---- a minimal DER writer ----
function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  const len =
    n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}
const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const set = (...c: Buffer[]) => tlv(0x31, ...c);
const octet = (b: Uint8Array) => tlv(0x04, Buffer.from(b));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s));
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const explicit = (n: number, c: Buffer) => tlv(0xa0 + n, c);
function int(v: number | bigint | Buffer, tag = 0x02): Buffer {
  let b = Buffer.isBuffer(v)
    ? v
    : Buffer.from(
        BigInt(v)
          .toString(16)
          .padStart(2, '0')
          .replace(/^(.(..)*)$/, '0$1'),
        'hex',
      );
  while (b.length > 1 && b[0] === 0 && !(b[1] & 0x80)) b = b.subarray(1);
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(tag, b);
}
function oid(s: string): Buffer {
  const parts = s.split('.').map(Number);
  const bytes = [parts[0] * 40 + parts[1]];
  for (const p of parts.slice(2)) {
    const chunk = [p & 0x7f];
    for (let v = p >>> 7; v > 0; v >>>= 7) chunk.unshift((v & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}
function utcTime(d: Date): Buffer {
  const s = d.toISOString().replace(/[-:T]/g, '').slice(2, 14);
  return tlv(0x17, Buffer.from(`${s}Z`));
}

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));
const name = (cn: string) => seq(set(seq(oid('2.5.4.3'), utf8(cn))));
const ext = (id: string, value: Buffer, critical = false) =>
  seq(oid(id), ...(critical ? [bool(true)] : []), octet(value));

interface Party {
  cn: string;
  key: KeyObject;
  pub: KeyObject;
  cert: X509Certificate;
  pem: string;
  serial: bigint;
}

let serialCounter = 0x1000n;
function issue(cn: string, issuer: Party | undefined, opts: { ca: boolean; extensions?: Buffer[] }): Party {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const serial = serialCounter++;
  const signer = issuer ?? { cn, key: privateKey };
  const exts = [ext('2.5.29.19', seq(...(opts.ca ? [bool(true)] : [])), true), ...(opts.extensions ?? [])];
  const tbs = seq(
    explicit(0, int(2)),
    int(serial),
    ECDSA_SHA256,
    name(signer.cn),
    seq(utcTime(new Date('2020-01-01T00:00:00Z')), utcTime(new Date('2040-01-01T00:00:00Z'))),
    name(cn),
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(...exts)),
  );
  const sig = sign('sha256', tbs, signer.key);
  const der = seq(tbs, ECDSA_SHA256, tlv(0x03, Buffer.from([0]), sig));
  const cert = new X509Certificate(der);
  return { cn, key: privateKey, pub: publicKey, cert, pem: cert.toString(), serial };
}

function crl(issuer: Party, revoked: bigint[]): Buffer {
  const tbs = seq(
    int(1),
    ECDSA_SHA256,
    name(issuer.cn),
    utcTime(new Date('2025-06-01T00:00:00Z')),
    utcTime(new Date('2025-08-01T00:00:00Z')),
    ...(revoked.length
      ? [seq(...revoked.map((s) => seq(int(s), utcTime(new Date('2025-06-01T00:00:00Z')))))]
      : []),
    explicit(0, seq(ext('2.5.29.20', int(7)))),
  );
  return seq(tbs, ECDSA_SHA256, tlv(0x03, Buffer.from([0]), sign('sha256', tbs, issuer.key)));
}

// ---- the PKI and a re-signed quote ----
const SGX = '1.2.840.113741.1.13.1';
const realQuoteBytes = readFileSync(vector('tee', 'tdx', 'phala-v4-uptodate', 'quote.bin'));
const realQuote = parseQuote(realQuoteBytes);
const [realLeaf, realCa] = parseCertificates(realQuote.pckChainPem);
const realPck = parsePckExtensions(realLeaf, realCa);
const bundle = JSON.parse(readFileSync(vector('tee', 'tdx', 'phala-v4-uptodate', 'collateral.json'), 'utf8'));

const root = issue('Test SGX Root CA', undefined, { ca: true });
const platformCa = issue('Intel SGX PCK Platform CA', root, { ca: true });
const tcbSigning = issue('Intel SGX TCB Signing', root, { ca: false });
const sgxExtension = seq(
  seq(oid(`${SGX}.1`), octet(Buffer.alloc(16, 0x11))),
  seq(
    oid(`${SGX}.2`),
    seq(
      ...realPck.sgxComponents.map((c, i) => seq(oid(`${SGX}.2.${i + 1}`), int(c))),
      seq(oid(`${SGX}.2.17`), int(realPck.pceSvn)),
      seq(oid(`${SGX}.2.18`), octet(realPck.cpuSvn)),
    ),
  ),
  seq(oid(`${SGX}.3`), octet(realPck.pceId)),
  seq(oid(`${SGX}.4`), octet(realPck.fmspc)),
  seq(oid(`${SGX}.5`), int(0, 0x0a)),
);
const pck = issue('Intel SGX PCK Certificate', platformCa, {
  ca: false,
  extensions: [ext(SGX, sgxExtension)],
});

function buildQuote(): Buffer {
  const att = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = att.publicKey.export({ format: 'jwk' });
  const attKey = Buffer.concat([Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  const authData = Buffer.from(realQuote.qeAuthData);
  const qeReport = Buffer.from(realQuote.qeReport.raw);
  createHash('sha256').update(attKey).update(authData).digest().copy(qeReport, 320);
  qeReport.fill(0, 352, 384);
  const qeSig = sign('sha256', qeReport, { key: pck.key, dsaEncoding: 'ieee-p1363' });
  const chain = Buffer.from(pck.pem + platformCa.pem + root.pem);
  const u16 = (n: number) => Buffer.from([n & 0xff, n >> 8]);
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(n);
    return b;
  };
  const inner = Buffer.concat([u16(5), u32(chain.length), chain]);
  const certData = Buffer.concat([qeReport, qeSig, u16(authData.length), authData, inner]);
  const signed = Buffer.from(realQuote.signedRegion);
  const quoteSig = sign('sha256', signed, { key: att.privateKey, dsaEncoding: 'ieee-p1363' });
  const sigData = Buffer.concat([quoteSig, attKey, u16(6), u32(certData.length), certData]);
  return Buffer.concat([signed, u32(sigData.length), sigData]);
}

const tmp = mkdtempSync(join(tmpdir(), 'cocoseal-tdx-pki-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const quote = buildQuote();
const now = new Date('2025-07-01T00:00:00Z');
let n = 0;

function collateral(
  opts: { revokedPck?: bigint[]; revokedByRoot?: bigint[]; tcbInfo?: string } = {},
): string {
  const tcbInfo = opts.tcbInfo ?? bundle.tcb_info;
  const p1363 = (body: string) =>
    sign('sha256', Buffer.from(body), { key: tcbSigning.key, dsaEncoding: 'ieee-p1363' }).toString('hex');
  const file = join(tmp, `collateral-${n++}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      tcb_info: tcbInfo,
      tcb_info_signature: p1363(tcbInfo),
      tcb_info_issuer_chain: tcbSigning.pem + root.pem,
      qe_identity: bundle.qe_identity,
      qe_identity_signature: p1363(bundle.qe_identity),
      qe_identity_issuer_chain: tcbSigning.pem + root.pem,
      pck_crl: crl(platformCa, opts.revokedPck ?? [0x77n]).toString('hex'),
      pck_crl_issuer_chain: platformCa.pem + root.pem,
      root_ca_crl: crl(root, opts.revokedByRoot ?? []).toString('hex'),
    }),
  );
  return file;
}

async function run(file: string): Promise<string> {
  try {
    const claims = await verifyTdxEvidence(quote, { now, collateral: file }, { rootCaPem: root.pem });
    return String(claims.tcb_status);
  } catch (e) {
    assert.ok(e instanceof AttestationError, `unexpected ${String(e)}`);
    return e.code;
  }
}

describe('TDX revocation and TCB statuses (private PKI)', () => {
  test('the re-signed quote with re-signed collateral verifies UpToDate', async () => {
    assert.equal(await run(collateral()), 'UpToDate');
  });

  test('a PCK listed in the PCK CRL is REVOKED', async () => {
    assert.equal(await run(collateral({ revokedPck: [0x77n, pck.serial] })), 'REVOKED');
  });

  test('a PCK CA listed in the root CA CRL is REVOKED', async () => {
    assert.equal(await run(collateral({ revokedByRoot: [platformCa.serial] })), 'REVOKED');
  });

  test('a revoked TCB Signing certificate is REVOKED', async () => {
    assert.equal(await run(collateral({ revokedByRoot: [tcbSigning.serial] })), 'REVOKED');
  });

  test('the Intel root rejects this chain', async () => {
    const code = await verifyTdxEvidence(quote, { now, collateral: collateral() }).then(
      () => 'OK',
      (e: AttestationError) => e.code,
    );
    assert.equal(code, 'CHAIN_INVALID');
  });

  test('a Revoked TCB level is REVOKED; a SWHardeningNeeded level passes with its status and advisories', async () => {
    const info = JSON.parse(bundle.tcb_info);
    const first = info.tcbLevels[0];
    first.tcbStatus = 'Revoked';
    assert.equal(await run(collateral({ tcbInfo: JSON.stringify(info) })), 'REVOKED');
    first.tcbStatus = 'SWHardeningNeeded';
    first.advisoryIDs = ['INTEL-SA-00615'];
    const claims = await verifyTdxEvidence(
      quote,
      { now, collateral: collateral({ tcbInfo: JSON.stringify(info) }) },
      { rootCaPem: root.pem },
    );
    assert.equal(claims.tcb_status, 'SWHardeningNeeded');
    assert.deepEqual(claims.advisory_ids, ['INTEL-SA-00615']);
    assert.equal(claims.pck_crl_num, 7);
    assert.equal(claims.sgx_type, 'Standard');
    assert.equal(claims.is_smt_enabled, undefined);
  });
});
