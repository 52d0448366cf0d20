/**
 * google.rpc status codes, as carried in `ttrpc.Status.code` (cdh.md §3.2).
 *
 * ttRPC reuses the gRPC code space; the numbers are wire values and must not change.
 */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcCodeName = keyof typeof GrpcCode;
export type GrpcCode = (typeof GrpcCode)[GrpcCodeName];

const names = new Map<number, GrpcCodeName>(
  Object.entries(GrpcCode).map(([name, code]) => [code, name as GrpcCodeName]),
);

/** `INTERNAL` for 13; `CODE_<n>` for a number outside the known set (peers may send any int32). */
export function grpcCodeName(code: number): string {
  return names.get(code) ?? `CODE_${code}`;
}
