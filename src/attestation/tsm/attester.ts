import { AttestationError } from '../errors.js';
import { parseCertTable } from '../snp/cert-table.js';
import { type CertChainEntry, type SnpEvidenceJson, snpEvidenceJson } from '../snp/evidence-json.js';
import { OFFSET, REPORT_SIZE } from '../snp/report.js';
import type { Attester } from '../types.js';
import { DEFAULT_ACPI_TABLES_DIR, readCcEventLog } from './ccel.js';
import { DEFAULT_TSM_REPORT_DIR, type TsmFsOps, TsmReports } from './configfs.js';

/*
 * Guest-side attesters over configfs-tsm, producing exactly the evidence the upstream attesters
 * send (tee-evidence.md §1.7 for SNP, §2.9 for TDX) so that an upstream Trustee accepts it:
 * - SNP: the Trustee JSON of the report, with `cert_chain` from the host's certificate table
 *   (auxblob), or null when the host supplied none.
 * - TDX: `{cc_eventlog, quote}` in standard base64, the event log from the ACPI CCEL when present.
 */

export interface TsmAttesterOptions {
  /** configfs-tsm report directory; default /sys/kernel/config/tsm/report. */
  base?: string;
  /** ACPI tables directory (for CCEL); default /sys/firmware/acpi/tables. */
  acpiTablesDir?: string;
  /**
   * SNP: the VMPL to request the report at. Default: not written, so the kernel uses its floor
   * (0 without an SVSM), which is what upstream asks for.
   */
  privlevel?: number;
  /** Injected mkdir/rmdir (tests; see configfs.ts). */
  ops?: TsmFsOps;
}

export interface TdxEvidenceJson {
  cc_eventlog: string | null;
  quote: string;
}

/** Report data zero-padded to 64 bytes, as both upstream attesters do; more than 64 is an error. */
function padReportData(reportData: Uint8Array, tee: string): Uint8Array {
  if (reportData.length > 64) {
    throw new AttestationError(
      'ATTESTER_FAILED',
      `${tee} report data is ${reportData.length} bytes; at most 64`,
    );
  }
  const out = new Uint8Array(64);
  out.set(reportData);
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a).equals(Buffer.from(b));
}

export class TsmSnpAttester implements Attester {
  readonly tee = 'snp' as const;
  private readonly reports: TsmReports;

  constructor(private readonly opts: TsmAttesterOptions = {}) {
    if (
      opts.privlevel !== undefined &&
      (!Number.isInteger(opts.privlevel) || opts.privlevel < 0 || opts.privlevel > 3)
    ) {
      throw new AttestationError('ATTESTER_FAILED', `SNP privlevel must be 0..3, got ${opts.privlevel}`);
    }
    this.reports = new TsmReports(opts.base ?? DEFAULT_TSM_REPORT_DIR, opts.ops);
  }

  async getEvidence(reportData: Uint8Array): Promise<SnpEvidenceJson> {
    const inblob = padReportData(reportData, 'SNP');
    const res = await this.reports.report({
      inblob,
      privlevel: this.opts.privlevel,
      provider: 'sev_guest',
      auxblob: true,
    });
    if (res.outblob.length !== REPORT_SIZE) {
      throw new AttestationError(
        'ATTESTER_FAILED',
        `SNP outblob is ${res.outblob.length} bytes; expected a ${REPORT_SIZE}-byte report`,
      );
    }
    const carried = res.outblob.subarray(OFFSET.reportData, OFFSET.reportData + 64);
    if (!sameBytes(carried, inblob)) {
      throw new AttestationError('ATTESTER_FAILED', 'SNP report does not carry the requested report data');
    }
    let chain: CertChainEntry[] | null = null;
    if (res.auxblob && res.auxblob.length > 0) {
      try {
        chain = parseCertTable(res.auxblob);
      } catch (e) {
        throw new AttestationError('ATTESTER_FAILED', `SNP auxblob: ${(e as Error).message}`, { cause: e });
      }
    }
    try {
      return snpEvidenceJson(res.outblob, chain);
    } catch (e) {
      throw new AttestationError('ATTESTER_FAILED', `SNP outblob: ${(e as Error).message}`, { cause: e });
    }
  }
}

/** Offset of REPORTDATA in a TDX quote: 48-byte header, then (v5) type u16 + size u32, body +520. */
function tdxReportDataOffset(quote: Uint8Array): number | undefined {
  const version = quote.length >= 2 ? quote[0] | (quote[1] << 8) : 0;
  if (version === 4) return 48 + 520;
  if (version === 5) return 48 + 6 + 520;
  return undefined;
}

export class TsmTdxAttester implements Attester {
  readonly tee = 'tdx' as const;
  private readonly reports: TsmReports;

  constructor(private readonly opts: TsmAttesterOptions = {}) {
    this.reports = new TsmReports(opts.base ?? DEFAULT_TSM_REPORT_DIR, opts.ops);
  }

  async getEvidence(reportData: Uint8Array): Promise<TdxEvidenceJson> {
    const inblob = padReportData(reportData, 'TDX');
    const res = await this.reports.report({ inblob, provider: 'tdx_guest' });
    const quote = res.outblob;
    const at = tdxReportDataOffset(quote);
    if (at !== undefined && (quote.length < at + 64 || !sameBytes(quote.subarray(at, at + 64), inblob))) {
      throw new AttestationError('ATTESTER_FAILED', 'TDX quote does not carry the requested report data');
    }
    const log = await readCcEventLog(this.opts.acpiTablesDir ?? DEFAULT_ACPI_TABLES_DIR);
    return {
      cc_eventlog: log ? Buffer.from(log).toString('base64') : null,
      quote: Buffer.from(quote).toString('base64'),
    };
  }
}

/**
 * The configfs-tsm attester for this guest, chosen by the kernel's `provider` (`sev_guest` → SNP,
 * `tdx_guest` → TDX), or undefined when configfs-tsm is absent or the provider is another TEE.
 * A configfs-tsm that exists but cannot be used (permissions, …) is an error, not "no TEE": falling
 * back to a sample attester there would hide the problem.
 */
export async function detectTsmAttester(opts: TsmAttesterOptions = {}): Promise<Attester | undefined> {
  const reports = new TsmReports(opts.base ?? DEFAULT_TSM_REPORT_DIR, opts.ops);
  if (!(await reports.available())) return undefined;
  const provider = await reports.provider();
  if (provider === 'sev_guest') return new TsmSnpAttester(opts);
  if (provider === 'tdx_guest') return new TsmTdxAttester(opts);
  return undefined;
}
