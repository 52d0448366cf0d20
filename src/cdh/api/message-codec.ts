import { TtrpcStatusError } from '../../ttrpc/errors.js';
import { lazyType, type ProtoFile } from '../../ttrpc/proto.js';
import { GrpcCode } from '../../ttrpc/status.js';

/** Encode/decode of one protobuf message, between a typed object and its wire bytes. */
export interface MessageCodec<T> {
  /** Full protobuf name, e.g. `api.UnsealSecretInput`. */
  readonly typeName: string;
  encode(message: T): Uint8Array;
  /**
   * Throws TtrpcStatusError UNKNOWN `ttrpc err: <decoder text>`: the status upstream's generated
   * service code answers when a method input does not decode (cdh.md §2.3), e.g. invalid UTF-8 in a
   * `string` field. A handler may let it propagate unchanged.
   */
  decode(bytes: Uint8Array): T;
}

/**
 * `toWire` builds the protobufjs object (field names as declared in the .proto) and should leave out
 * proto3 defaults; `fromWire` maps a decoded message (absent fields are undefined) to `T`.
 */
export function messageCodec<T>(
  file: ProtoFile,
  typeName: string,
  toWire: (m: T) => Record<string, unknown>,
  fromWire: (w: Record<string, unknown>) => T,
): MessageCodec<T> {
  const type = lazyType(file, typeName);
  return {
    typeName,
    encode: (m) => type().encode(toWire(m)).finish(),
    decode: (bytes) => {
      let w: Record<string, unknown>;
      try {
        w = type().decode(bytes) as unknown as Record<string, unknown>;
      } catch (e) {
        throw new TtrpcStatusError(
          GrpcCode.UNKNOWN,
          `ttrpc err: ${typeName}: ${e instanceof Error ? e.message : e}`,
        );
      }
      return fromWire(w);
    },
  };
}

export function bytesField(v: unknown): Uint8Array {
  if (!(v instanceof Uint8Array)) return new Uint8Array(0);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

export function stringField(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** Sets `key` on `o` only for a non-default value (proto3 implicit presence). */
export function put(o: Record<string, unknown>, key: string, v: string | Uint8Array | undefined): void {
  if (v !== undefined && v.length > 0) o[key] = v;
}
