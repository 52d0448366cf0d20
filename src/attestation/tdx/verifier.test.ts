import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { vector } from '../../../test/helpers/paths.js';
import { AttestationError } from '../errors.js';
import { parseCertificates } from '../x509.js';
import { parsedClaims } from './claims.js';
import { eventLogClaims, parseEventLog } from './eventlog.js';
import { parsePckExtensions } from './pck.js';
import { parseQuote } from './quote.js';
import {
  TdxVerifier,
  type TdxVerifierOptions,
  type TdxVerifyContext,
  verifyTdxEvidence,
} from './verifier.js';

const tdx = (...p: string[]) => vector('tee', 'tdx', ...p);
const read = (...p: string[]) => readFileSync(tdx(...p));

interface Sample {
  id: string;
  at: string;
  /** Collateral path for ctx.collateral. */
  collateral?: string;
  opts?: TdxVerifierOptions;
  /** Expected outcome at `at`: a TCB status or an error code. */
  status?: string;
  error?: string;
}

// The outcomes of vectors/tee/README.md "Expected TDX outcomes".
const samples: Sample[] = [
  {
    id: 'phala-v4-uptodate',
    at: '2025-07-01T00:00:00Z',
    collateral: tdx('phala-v4-uptodate', 'collateral.json'),
    status: 'UpToDate',
  },
  {
    id: 'gotdx-v4-notsupported',
    at: '2023-07-01T01:00:00Z',
    collateral: tdx('gotdx-v4-notsupported'),
    error: 'TCB_MISMATCH',
  },
  {
    id: 'trustee-v4-debug',
    at: '2023-07-01T01:00:00Z',
    collateral: tdx('gotdx-v4-notsupported'),
    status: 'UpToDate',
  },
  {
    id: 'trustee-v4-outofdate',
    at: '2025-11-01T00:00:00Z',
    collateral: tdx('trustee-v4-outofdate'),
    // No PCK CRL inside this case's window exists; the README says to skip that check.
    opts: { allowMissingCrls: true },
    status: 'OutOfDate',
  },
  {
    id: 'phala-v5-notsupported',
    at: '2026-03-01T00:00:00Z',
    collateral: tdx('phala-v5-notsupported', 'collateral.json'),
    error: 'TCB_MISMATCH',
  },
  { id: 'gcp-v4-eventlog', at: '2025-01-01T00:00:00Z', opts: { allowMissingCollateral: true } },
];

function ctxOf(s: Sample, extra: Partial<TdxVerifyContext> = {}): TdxVerifyContext {
  return { now: new Date(s.at), collateral: s.collateral, ...extra };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AttestationError, `unexpected ${String(e)}`);
    return e.code;
  }
  return 'OK';
}

const tmp = mkdtempSync(join(tmpdir(), 'cocoseal-tdx-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('TDX verifier: recorded samples', () => {
  for (const s of samples) {
    test(`${s.id} at ${s.at}: ${s.status ?? s.error ?? 'quote, chain and event log'}`, async () => {
      const run = verifyTdxEvidence(read(s.id, 'quote.bin'), ctxOf(s), s.opts);
      if (s.error) {
        assert.equal(await codeOf(run), s.error);
        return;
      }
      const claims = await run;
      assert.equal(claims.tcb_status, s.status);
      if (s.status) {
        assert.deepEqual(claims.advisory_ids, []);
        assert.equal(claims.collateral_expiration_status, '0');
        assert.equal(
          claims.root_key_id,
          '46e403bd34f05a3f2817ab9badcaacc7ffc98e0f261008cd30dae936cace18d5dcf58eef31463613de1570d516200993',
        );
      }
    });
  }

  test('the not-supported samples say why', async () => {
    await assert.rejects(
      verifyTdxEvidence(read('gotdx-v4-notsupported', 'quote.bin'), ctxOf(samples[1])),
      /TCB not supported.*3,3,2,2,2,1,0,2/,
    );
  });

  test('phala-v4-uptodate supplemental claims', async () => {
    const c = await verifyTdxEvidence(read('phala-v4-uptodate', 'quote.bin'), ctxOf(samples[0]));
    assert.equal(c.tcb_date, '2024-03-13T00:00:00Z');
    assert.equal(c.earliest_issue_date, '2018-05-21T10:45:10Z');
    assert.equal(c.latest_issue_date, '2025-06-19T10:32:27Z');
    assert.equal(c.earliest_expiration_date, '2025-07-19T10:00:35Z');
    assert.equal(c.tcb_eval_num, 17);
    assert.equal(c.pck_crl_num, 1);
    assert.equal(c.root_ca_crl_num, 1);
    assert.equal(c.sgx_type, 'Scalable');
    assert.equal(typeof c.is_smt_enabled, 'boolean');
  });

  test('trustee-v4-outofdate: level 2018-01-04', async () => {
    const s = samples[3];
    const c = await verifyTdxEvidence(read(s.id, 'quote.bin'), ctxOf(s), s.opts);
    assert.equal(c.tcb_date, '2018-01-04T00:00:00Z');
    assert.equal(c.sgx_type, 'Scalable with Integrity');
    assert.equal(c.pck_crl_num, undefined);
  });

  test('by default a missing PCK CRL is COLLATERAL_MISSING, and so is missing collateral', async () => {
    const s = samples[3];
    assert.equal(await codeOf(verifyTdxEvidence(read(s.id, 'quote.bin'), ctxOf(s))), 'COLLATERAL_MISSING');
    const g = samples[5];
    assert.equal(await codeOf(verifyTdxEvidence(read(g.id, 'quote.bin'), ctxOf(g))), 'COLLATERAL_MISSING');
    assert.equal(
      await codeOf(
        verifyTdxEvidence(read(g.id, 'quote.bin'), ctxOf(g, { collateral: join(tmp, 'nothing-here') })),
      ),
      'COLLATERAL_MISSING',
    );
  });

  test('acceptedTcbStatuses narrows what passes; the status stays in the claims otherwise', async () => {
    const s = samples[3];
    const strict = { ...s.opts, acceptedTcbStatuses: ['UpToDate' as const] };
    assert.equal(await codeOf(verifyTdxEvidence(read(s.id, 'quote.bin'), ctxOf(s), strict)), 'TCB_MISMATCH');
  });

  for (const s of samples.filter((x) => x.collateral)) {
    test(`${s.id} at the wall clock fails as expired`, async () => {
      const code = await codeOf(
        verifyTdxEvidence(read(s.id, 'quote.bin'), { collateral: s.collateral }, s.opts),
      );
      assert.ok(code === 'COLLATERAL_EXPIRED' || code === 'CERT_EXPIRED', code);
    });
  }

  test('the quote verifies with collateral found in a per-FMSPC cache directory', async () => {
    const dir = join(tmp, 'cache');
    mkdirSync(join(dir, 'b0c06f000000'), { recursive: true });
    cpSync(tdx('phala-v4-uptodate', 'collateral.json'), join(dir, 'b0c06f000000', 'collateral.json'));
    cpSync(tdx('gotdx-v4-notsupported'), join(dir, '50806F000000'), { recursive: true });
    const v = new TdxVerifier({ collateralDir: dir });
    assert.equal(v.tee, 'tdx');
    const a = await v.verify(read('phala-v4-uptodate', 'quote.bin'), { now: new Date(samples[0].at) });
    assert.equal(a.tcb_status, 'UpToDate');
    const b = await v.verify(read('trustee-v4-debug', 'quote.bin'), { now: new Date(samples[2].at) });
    assert.equal(b.tcb_status, 'UpToDate');
  });
});

describe('TDX verifier: report data, init data, event log, claims', () => {
  const phala = samples[0];
  const phalaQuote = read(phala.id, 'quote.bin');
  const reportData = parseQuote(phalaQuote).body.reportData;

  test('accepts the report data the quote carries, rejects any other', async () => {
    const ok = await verifyTdxEvidence(phalaQuote, ctxOf(phala, { expectedReportData: reportData }));
    assert.equal(ok.report_data, Buffer.from(reportData).toString('hex'));
    const other = Buffer.from(reportData);
    other[63] ^= 1;
    assert.equal(
      await codeOf(verifyTdxEvidence(phalaQuote, ctxOf(phala, { expectedReportData: other }))),
      'REPORT_DATA_MISMATCH',
    );
  });

  test('a 48-byte KBS digest is compared zero-padded (trustee-v4-outofdate shape)', async () => {
    const s = samples[3];
    const q = read(s.id, 'quote.bin');
    const body = parseQuote(q).body;
    const digest = Buffer.from(body.reportData.subarray(0, 48));
    const mrConfigId = Buffer.from(body.mrConfigId);
    const claims = await verifyTdxEvidence(
      q,
      ctxOf(s, { expectedReportData: digest, expectedInitDataHash: mrConfigId }),
      s.opts,
    );
    assert.equal(claims.init_data, mrConfigId.toString('hex'));
    const wrongInit = Buffer.from(mrConfigId.subarray(0, 32)); // a SHA-256 digest is padded with 16 zeros
    assert.equal(
      await codeOf(verifyTdxEvidence(q, ctxOf(s, { expectedInitDataHash: wrongInit }), s.opts)),
      'INIT_DATA_MISMATCH',
    );
  });

  test('a zero-padded SHA-256 init-data digest matches an all-zero MRCONFIGID prefix rule', async () => {
    // phala's MRCONFIGID is zero: the zero SHA-256-sized digest, padded to 48, matches it.
    await verifyTdxEvidence(phalaQuote, ctxOf(phala, { expectedInitDataHash: Buffer.alloc(32) }));
  });

  test('trustee-v4-debug: the parse claims equal upstream expected_claims.json field by field', async () => {
    const expected = JSON.parse(read('trustee-v4-debug', 'expected_claims.json').toString('utf8'));
    const quoteBytes = read('trustee-v4-debug', 'quote.bin');
    // Full verification (the recorded CCEL does not replay to this quote, so it is not sent).
    const claims = await verifyTdxEvidence(
      { quote: quoteBytes.toString('base64'), cc_eventlog: null },
      ctxOf(samples[2]),
    );
    for (const key of Object.keys(expected)) {
      if (key === 'uefi_event_logs') continue;
      assert.deepEqual(claims[key], expected[key], key);
    }
    assert.equal((claims.td_attributes as { debug: boolean }).debug, true);
    // The parse step with the upstream log gives exactly the upstream claims.
    const quote = parseQuote(quoteBytes);
    const [leaf, intermediate] = parseCertificates(quote.pckChainPem);
    const log = eventLogClaims(parseEventLog(read('trustee-v4-debug', 'ccel_data.bin')));
    assert.deepEqual(
      parsedClaims(quote, { eventLog: log, pck: parsePckExtensions(leaf, intermediate) }),
      expected,
    );
  });

  test("trustee-v4-debug with its CCEL is EVENT_LOG_MISMATCH (the log is not this quote's)", async () => {
    const ev = {
      quote: read('trustee-v4-debug', 'quote.bin').toString('base64'),
      cc_eventlog: read('trustee-v4-debug', 'ccel_data.bin').toString('base64'),
    };
    assert.equal(await codeOf(verifyTdxEvidence(ev, ctxOf(samples[2]))), 'EVENT_LOG_MISMATCH');
  });

  const gcp = samples[5];
  const gcpEvidence = JSON.parse(read('gcp-v4-eventlog', 'evidence.json').toString('utf8'));

  test('gcp-v4-eventlog evidence JSON: the log replays and becomes uefi_event_logs', async () => {
    const claims = await verifyTdxEvidence(
      gcpEvidence,
      ctxOf(gcp, { expectedReportData: read('gcp-v4-eventlog', 'nonce.bin') }),
      gcp.opts,
    );
    assert.equal((claims.uefi_event_logs as unknown[]).length, 43);
    assert.equal(claims.tcb_status, undefined, 'no DCAP claims without collateral');
  });

  test('gcp-v4-eventlog with a tampered log is EVENT_LOG_MISMATCH', async () => {
    const log = Buffer.from(gcpEvidence.cc_eventlog, 'base64');
    const entries = parseEventLog(log);
    // Flip one byte of the last event's SHA-384 digest (RTMR1), located by its event data.
    const last = entries[entries.length - 1];
    const at = log.lastIndexOf(last.data) - 4 - 48;
    log[at] ^= 0x80;
    const ev = { ...gcpEvidence, cc_eventlog: log.toString('base64') };
    assert.equal(await codeOf(verifyTdxEvidence(ev, ctxOf(gcp), gcp.opts)), 'EVENT_LOG_MISMATCH');
  });

  test('evidence forms: raw bytes, JSON object, JSON text, JSON bytes; bad ones are EVIDENCE_MALFORMED', async () => {
    const text = JSON.stringify(gcpEvidence);
    for (const form of [read('gcp-v4-eventlog', 'quote.bin'), gcpEvidence, text, Buffer.from(`\n ${text}`)]) {
      await verifyTdxEvidence(form, ctxOf(gcp), gcp.opts);
    }
    for (const bad of [
      {},
      { quote: '' },
      { quote: 'not base64!' },
      { quote: gcpEvidence.quote, cc_eventlog: 5 },
      '{',
      42,
      null,
    ]) {
      assert.equal(
        await codeOf(verifyTdxEvidence(bad, ctxOf(gcp), gcp.opts)),
        'EVIDENCE_MALFORMED',
        JSON.stringify(bad),
      );
    }
  });
});

/** The base64 body offsets (in the quote) of the three PEM certificates. */
function pemBodies(quote: Buffer): number[] {
  const marker = Buffer.from('-----BEGIN CERTIFICATE-----\n');
  const out: number[] = [];
  let i = quote.indexOf(marker);
  while (i >= 0) {
    out.push(i + marker.length);
    i = quote.indexOf(marker, i + 1);
  }
  return out;
}

describe('TDX verifier: mutations of every sample', () => {
  for (const s of samples) {
    const quote = read(s.id, 'quote.bin');
    const parsed = parseQuote(quote);
    const signedLen = parsed.signedRegion.length;
    const sigStart = signedLen + 4;
    const flip = (off: number, mask = 0x01) => {
      const b = Buffer.from(quote);
      b[off] ^= mask;
      return b;
    };
    const expectCode = async (b: Buffer, code: string) =>
      assert.equal(await codeOf(verifyTdxEvidence(b, ctxOf(s), s.opts)), code);

    test(`${s.id}: a flipped bit in the header, body or report data breaks the quote signature`, async () => {
      await expectCode(flip(0x1c), 'SIGNATURE_INVALID'); // user_data
      await expectCode(flip(0x40), 'SIGNATURE_INVALID'); // MRSEAM
      await expectCode(flip(signedLen - 1), 'SIGNATURE_INVALID'); // last signed byte
    });

    test(`${s.id}: a flipped bit in the quote signature or attestation key`, async () => {
      await expectCode(flip(sigStart + 10), 'SIGNATURE_INVALID');
      await expectCode(flip(sigStart + 63), 'SIGNATURE_INVALID');
      // The attestation key is bound by the QE report data: changing it breaks that binding first.
      await expectCode(flip(sigStart + 64 + 5), 'SIGNATURE_INVALID');
    });

    test(`${s.id}: a flipped bit in the QE report, its signature or the QE auth data`, async () => {
      const qeStart = sigStart + 128 + 6;
      await expectCode(flip(qeStart + 0x80), 'SIGNATURE_INVALID'); // MRSIGNER
      await expectCode(flip(qeStart + 320), 'SIGNATURE_INVALID'); // QE report data
      await expectCode(flip(qeStart + 384 + 7), 'SIGNATURE_INVALID'); // QE report signature
      await expectCode(flip(qeStart + 384 + 64 + 2), 'SIGNATURE_INVALID'); // QE auth data
    });

    test(`${s.id}: a changed byte in the PCK leaf, intermediate or root certificate`, async () => {
      const bodies = pemBodies(quote);
      assert.equal(bodies.length, 3);
      for (const start of bodies) {
        const b = Buffer.from(quote);
        // Inside the TBS part, 200 base64 characters in (past the first line break): swap A/B-like chars.
        const at = start + 200;
        b[at] = b[at] === 0x41 ? 0x42 : 0x41;
        await expectCode(b, 'CHAIN_INVALID');
      }
    });
  }

  test('upstream tamper offsets on gotdx-v4-notsupported (go-tdx-guest verify_test.go)', async () => {
    const s = samples[1];
    const quote = read(s.id, 'quote.bin');
    const set = (off: number, v: number) => {
      const b = Buffer.from(quote);
      b[off] = v;
      return b;
    };
    const cases: [number, number, string][] = [
      [0x00, 3, 'VERSION_NOT_ALLOWED'],
      [0x1e, 0x32, 'SIGNATURE_INVALID'],
      [0x3c, 0x32, 'SIGNATURE_INVALID'],
      [0x278, 0x10, 'EVIDENCE_MALFORMED'],
      [0xb77, 0x32, 'CHAIN_INVALID'],
      [0xf5f, 0x32, 'CHAIN_INVALID'],
      [0x1329, 0x32, 'CHAIN_INVALID'],
    ];
    for (const [off, v, code] of cases) {
      assert.equal(
        await codeOf(verifyTdxEvidence(set(off, v), ctxOf(s))),
        code,
        `offset 0x${off.toString(16)}`,
      );
    }
  });
});

describe('TDX verifier: collateral mutations', () => {
  const phala = samples[0];
  const quote = read(phala.id, 'quote.bin');
  const bundle = JSON.parse(read('phala-v4-uptodate', 'collateral.json').toString('utf8'));
  const other = JSON.parse(read('phala-v5-notsupported', 'collateral.json').toString('utf8'));
  let n = 0;
  const withBundle = async (b: Record<string, string>, opts?: TdxVerifierOptions) => {
    const file = join(tmp, `bundle-${n++}.json`);
    writeFileSync(file, JSON.stringify(b));
    return codeOf(verifyTdxEvidence(quote, ctxOf(phala, { collateral: file }), opts));
  };

  test("a TCB info of another FMSPC (phala-v5's, validly signed) is TCB_MISMATCH", async () => {
    assert.equal(
      await withBundle({ ...bundle, tcb_info: other.tcb_info, tcb_info_signature: other.tcb_info_signature }),
      'TCB_MISMATCH',
    );
    // The other sample's whole collateral, too.
    assert.equal(await withBundle(other), 'TCB_MISMATCH');
  });

  test('a changed TCB info or QE identity byte breaks its signature', async () => {
    const tcb = bundle.tcb_info.replace('"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":18');
    assert.notEqual(tcb, bundle.tcb_info);
    assert.equal(await withBundle({ ...bundle, tcb_info: tcb }), 'SIGNATURE_INVALID');
    const qe = bundle.qe_identity.replace('"isvprodid":2', '"isvprodid":3');
    assert.notEqual(qe, bundle.qe_identity);
    assert.equal(await withBundle({ ...bundle, qe_identity: qe }), 'SIGNATURE_INVALID');
    const sig = Buffer.from(bundle.tcb_info_signature, 'hex');
    sig[40] ^= 1;
    assert.equal(
      await withBundle({ ...bundle, tcb_info_signature: sig.toString('hex') }),
      'SIGNATURE_INVALID',
    );
  });

  test('a re-serialized (but equal) TCB info no longer verifies: the exact bytes are signed', async () => {
    const reserialized = JSON.stringify(JSON.parse(bundle.tcb_info), null, 1);
    assert.equal(await withBundle({ ...bundle, tcb_info: reserialized }), 'SIGNATURE_INVALID');
  });

  test('a TCB info chain that does not end at the Intel root is CHAIN_INVALID', async () => {
    const [signing] = bundle.tcb_info_issuer_chain.split(/(?<=-----END CERTIFICATE-----)/);
    assert.equal(await withBundle({ ...bundle, tcb_info_issuer_chain: signing }), 'CHAIN_INVALID');
  });

  test("CRLs: a tampered one fails its signature, a wrong CA's is CHAIN_INVALID", async () => {
    const crl = Buffer.from(bundle.pck_crl, 'hex');
    crl[300] ^= 1; // inside the revoked-certificates list
    assert.equal(await withBundle({ ...bundle, pck_crl: crl.toString('hex') }), 'SIGNATURE_INVALID');
    assert.equal(await withBundle({ ...bundle, pck_crl: bundle.root_ca_crl }), 'CHAIN_INVALID');
    const root = Buffer.from(bundle.root_ca_crl, 'hex');
    root[root.length - 5] ^= 1;
    assert.equal(await withBundle({ ...bundle, root_ca_crl: root.toString('hex') }), 'SIGNATURE_INVALID');
  });

  test('malformed collateral is COLLATERAL_INVALID', async () => {
    assert.equal(await withBundle({ ...bundle, tcb_info_signature: 'abcd' }), 'COLLATERAL_INVALID');
    assert.equal(await withBundle({ ...bundle, pck_crl: 'zz' }), 'COLLATERAL_INVALID');
    const file = join(tmp, 'not-json.json');
    writeFileSync(file, '{');
    assert.equal(
      await codeOf(verifyTdxEvidence(quote, ctxOf(phala, { collateral: file }))),
      'COLLATERAL_INVALID',
    );
  });

  test('a trust anchor other than the Intel root rejects every chain', async () => {
    const amdArk = readFileSync(vector('tee', 'snp', 'ca', 'milan_ask_ark_asvk.pem'), 'utf8').split(
      /(?<=-----END CERTIFICATE-----)\n?/,
    )[1];
    assert.equal(
      await codeOf(verifyTdxEvidence(quote, ctxOf(phala), { rootCaPem: amdArk })),
      'CHAIN_INVALID',
    );
  });
});
