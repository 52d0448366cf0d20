import type { Claims } from '../types.js';
import type { SnpReport, TcbVersion } from './report.js';

/*
 * The flat claims object the Trustee SNP verifier emits (tee-evidence.md §1.8), with the same names
 * and types so that attestation policies written for upstream apply unchanged. Nothing is added:
 * a policy that enumerates keys must see exactly what upstream produces.
 */

const bit = (v: bigint, n: number) => ((v >> BigInt(n)) & 1n) === 1n;
const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

/** `reportedTcb` must be decoded with the verified product's layout. */
export function snpClaims(report: SnpReport, reportedTcb: TcbVersion): Claims {
  const { policy, platInfo } = report;
  return {
    policy_abi_major: Number((policy >> 8n) & 0xffn),
    policy_abi_minor: Number(policy & 0xffn),
    policy_smt_allowed: bit(policy, 16),
    policy_migrate_ma: bit(policy, 18),
    policy_debug_allowed: bit(policy, 19),
    policy_single_socket: bit(policy, 20),
    reported_tcb_bootloader: reportedTcb.bootloader,
    reported_tcb_tee: reportedTcb.tee,
    reported_tcb_snp: reportedTcb.snp,
    reported_tcb_microcode: reportedTcb.microcode,
    platform_tsme_enabled: bit(platInfo, 1),
    platform_smt_enabled: bit(platInfo, 0),
    measurement: hex(report.measurement),
    report_data: hex(report.reportData),
    init_data: hex(report.hostData),
    chip_id: hex(report.chipId),
  };
}
