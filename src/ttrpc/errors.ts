import { CocosealError } from '../common/errors.js';
import { GrpcCode, grpcCodeName } from './status.js';

export type TtrpcErrorCode =
  /** A frame (or an encoded request/response) is larger than the 4 MiB ttRPC limit. */
  | 'TTRPC_MESSAGE_TOO_LARGE'
  /** The peer sent bytes that are not valid ttRPC (bad envelope, unexpected frame type). */
  | 'TTRPC_PROTOCOL'
  /** The connection closed (or was closed locally) before the call completed. */
  | 'TTRPC_CONNECTION_CLOSED'
  /** Could not connect to the server's socket. */
  | 'TTRPC_CONNECT_FAILED'
  /** `listen`: another server answers on the socket path, or the path is not a socket. */
  | 'TTRPC_ADDRESS_IN_USE'
  /** The socket address is malformed (scheme, length). */
  | 'TTRPC_ADDRESS_INVALID'
  /** A server-side or client-side status; see `TtrpcStatusError.grpcCode`. */
  | 'TTRPC_STATUS'
  /** Server misuse: duplicate registration, listen twice, register after listen. */
  | 'TTRPC_USAGE'
  /** The client used up its 2^31 odd stream ids; open a new connection. */
  | 'TTRPC_STREAM_IDS_EXHAUSTED';

export class TtrpcError extends CocosealError<TtrpcErrorCode> {}

/**
 * A ttRPC status (google.rpc.Status shape). A handler throws it to answer that status; the client
 * throws it when the server answered one (or when its own deadline passed: DEADLINE_EXCEEDED).
 * The message travels on the wire verbatim, so it must never contain secret material.
 */
export class TtrpcStatusError extends TtrpcError {
  readonly grpcCode: number;
  readonly details: readonly StatusDetail[];

  constructor(grpcCode: number, message: string, options?: { cause?: unknown; details?: StatusDetail[] }) {
    super('TTRPC_STATUS', message, options);
    if (
      !Number.isInteger(grpcCode) ||
      grpcCode === GrpcCode.OK ||
      grpcCode < -0x80000000 ||
      grpcCode > 0x7fffffff
    ) {
      throw new RangeError(`a ttRPC error status needs a non-zero int32 code, got ${grpcCode}`);
    }
    this.grpcCode = grpcCode;
    this.details = options?.details ?? [];
  }

  get grpcCodeName(): string {
    return grpcCodeName(this.grpcCode);
  }

  override toLine(): string {
    return `${this.code}: ${this.grpcCodeName} (${this.grpcCode}): ${this.message}`;
  }
}

/** One `google.protobuf.Any` entry of `Status.details`. */
export interface StatusDetail {
  typeUrl: string;
  value: Uint8Array;
}
