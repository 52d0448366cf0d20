import type { Claims } from '../types.js';
import type { PckInfo } from './pck.js';
import type { TdxQuote } from './quote.js';
import type { TcbEvaluation } from './tcb.js';

/*
 * Claims named as the upstream Trustee TDX verifier emits them (tee-evidence.md §2.10): the parsed
 * quote as lower-case hex of the raw bytes (multi-byte integers keep their little-endian bytes), TD
 * attributes, report/init data, the event log, and the DCAP supplemental results.
 */

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** TDATTRIBUTES bits Trustee names (§2.2). */
export function tdAttributes(attr: Uint8Array): Record<string, boolean> {
  const v = Buffer.from(attr).readBigUInt64LE(0);
  const bit = (n: bigint) => (v & (1n << n)) !== 0n;
  return {
    debug: bit(0n),
    septve_disable: bit(28n),
    protection_keys: bit(30n),
    key_locker: bit(31n),
    perfmon: bit(63n),
  };
}

/** The parse claims: what Trustee derives from the quote, the event log and the PCK alone. */
export function parsedClaims(
  quote: TdxQuote,
  opts: { eventLog?: Record<string, unknown>[]; pck?: PckInfo } = {},
): Claims {
  const h = quote.header;
  const b = quote.body;
  const header = {
    version: hex(h.raw.subarray(0, 2)),
    att_key_type: hex(h.raw.subarray(2, 4)),
    tee_type: hex(h.raw.subarray(4, 8)),
    reserved: hex(h.reserved),
    vendor_id: hex(h.qeVendorId),
    user_data: hex(h.userData),
  };
  const body: Record<string, string> = {
    tcb_svn: hex(b.teeTcbSvn),
    mr_seam: hex(b.mrSeam),
    mrsigner_seam: hex(b.mrSignerSeam),
    seam_attributes: hex(b.seamAttributes),
    td_attributes: hex(b.tdAttributes),
    xfam: hex(b.xfam),
    mr_td: hex(b.mrTd),
    mr_config_id: hex(b.mrConfigId),
    mr_owner: hex(b.mrOwner),
    mr_owner_config: hex(b.mrOwnerConfig),
    rtmr_0: hex(b.rtmr[0]),
    rtmr_1: hex(b.rtmr[1]),
    rtmr_2: hex(b.rtmr[2]),
    rtmr_3: hex(b.rtmr[3]),
    report_data: hex(b.reportData),
  };
  if (b.teeTcbSvn2 && b.mrServiceTd) {
    body.tee_tcb_svn2 = hex(b.teeTcbSvn2);
    body.mr_servicetd = hex(b.mrServiceTd);
  }
  const q: Record<string, unknown> = { header, body };
  if (quote.bodyDescriptor) {
    q.type = hex(quote.bodyDescriptor.type);
    q.size = hex(quote.bodyDescriptor.size);
  }
  const claims: Claims = {
    quote: q,
    td_attributes: tdAttributes(b.tdAttributes),
    report_data: hex(b.reportData),
    init_data: hex(b.mrConfigId),
  };
  if (opts.eventLog) claims.uefi_event_logs = opts.eventLog;
  // The PlatformInstanceID is a little-endian GUID in the certificate; Trustee shows it reversed.
  if (opts.pck?.platformInstanceId)
    claims.platform_instance_id = hex(Buffer.from(opts.pck.platformInstanceId).reverse());
  return claims;
}

export interface SupplementalInputs {
  pck: PckInfo;
  tcb: TcbEvaluation;
  /** Every validity start and end among the certificates, CRLs and collateral documents used. */
  issueDates: Date[];
  expirationDates: Date[];
  pckCrlNumber?: bigint;
  rootCaCrlNumber?: bigint;
  tcbEvalNumber: number;
  rootKeyId: string;
}

function rfc3339(d: Date): string {
  return new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

const SGX_TYPES = ['Standard', 'Scalable', 'Scalable with Integrity'];

/** The DCAP supplemental claims Trustee adds after a successful quote verification. */
export function supplementalClaims(x: SupplementalInputs): Claims {
  const min = (ds: Date[]) => new Date(Math.min(...ds.map((d) => d.getTime())));
  const max = (ds: Date[]) => new Date(Math.max(...ds.map((d) => d.getTime())));
  const c: Claims = {
    earliest_issue_date: rfc3339(min(x.issueDates)),
    latest_issue_date: rfc3339(max(x.issueDates)),
    earliest_expiration_date: rfc3339(min(x.expirationDates)),
  };
  if (x.tcb.tcbDate) c.tcb_date = rfc3339(x.tcb.tcbDate);
  if (x.pckCrlNumber !== undefined) c.pck_crl_num = Number(x.pckCrlNumber);
  if (x.rootCaCrlNumber !== undefined) c.root_ca_crl_num = Number(x.rootCaCrlNumber);
  c.tcb_eval_num = x.tcbEvalNumber;
  c.platform_provider_id = hex(x.pck.ppid);
  c.sgx_type = SGX_TYPES[x.pck.sgxType] ?? `Unknown (${x.pck.sgxType})`;
  if (x.pck.sgxType > 0) {
    c.is_dynamic_platform = x.pck.dynamicPlatform === true;
    c.is_cached_keys = x.pck.cachedKeys === true;
    c.is_smt_enabled = x.pck.smtEnabled === true;
  }
  c.root_key_id = x.rootKeyId;
  c.tcb_status = x.tcb.status;
  // Expired collateral is rejected outright, so anything that reaches the claims is fresh.
  c.collateral_expiration_status = '0';
  c.advisory_ids = x.tcb.advisoryIds;
  return c;
}
