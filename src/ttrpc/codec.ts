import { type StatusDetail, TtrpcError } from './errors.js';
import { int64ToNumber, lazyType, ownBytes } from './proto.js';
import { GrpcCode } from './status.js';

/*
 * The ttRPC envelope messages carried in frame payloads (cdh.md §3.2, proto/ttrpc.proto).
 * Encoding leaves proto3 defaults out, so a success response is `0a 00` + payload and an empty
 * output message leaves the payload field out entirely, byte for byte like upstream.
 */

const RequestType = lazyType('ttrpc.proto', 'ttrpc.Request');
const ResponseType = lazyType('ttrpc.proto', 'ttrpc.Response');

export interface TtrpcRequest {
  service: string;
  method: string;
  payload: Uint8Array;
  /** Per-call deadline in nanoseconds; 0 (or negative) means none. */
  timeoutNano: number;
  /** Repeated key/value pairs, in wire order; a key may appear more than once. */
  metadata: Array<{ key: string; value: string }>;
}

export interface TtrpcStatus {
  code: number;
  message: string;
  details: StatusDetail[];
}

export interface TtrpcResponse {
  /** Absent on the wire means success, like code 0. */
  status?: TtrpcStatus;
  payload: Uint8Array;
}

export function encodeRequest(r: TtrpcRequest): Uint8Array {
  const msg: Record<string, unknown> = {};
  if (r.service) msg.service = r.service;
  if (r.method) msg.method = r.method;
  if (r.payload.length) msg.payload = r.payload;
  if (r.timeoutNano > 0) msg.timeout_nano = Math.trunc(r.timeoutNano);
  if (r.metadata.length) msg.metadata = r.metadata.map(({ key, value }) => ({ key, value }));
  return RequestType().encode(msg).finish();
}

/** Throws TtrpcError TTRPC_PROTOCOL with the decoder's text (no payload bytes in it). */
export function decodeRequest(bytes: Uint8Array): TtrpcRequest {
  const m = decode(RequestType(), bytes, 'ttrpc.Request') as {
    service?: string;
    method?: string;
    payload?: Uint8Array;
    timeout_nano?: unknown;
    metadata?: Array<{ key?: string; value?: string }>;
  };
  return {
    service: m.service ?? '',
    method: m.method ?? '',
    payload: ownBytes(m.payload),
    timeoutNano: int64ToNumber(m.timeout_nano),
    metadata: (m.metadata ?? []).map((kv) => ({ key: kv.key ?? '', value: kv.value ?? '' })),
  };
}

export function encodeResponse(r: TtrpcResponse): Uint8Array {
  const msg: Record<string, unknown> = {};
  // Upstream servers always send the status, even on success (an empty message: `0a 00`).
  const st = r.status ?? { code: GrpcCode.OK, message: '', details: [] };
  const status: Record<string, unknown> = {};
  if (st.code !== 0) status.code = st.code;
  if (st.message) status.message = st.message;
  if (st.details.length) status.details = st.details.map((d) => ({ type_url: d.typeUrl, value: d.value }));
  msg.status = status;
  if (r.payload.length) msg.payload = r.payload;
  return ResponseType().encode(msg).finish();
}

export function decodeResponse(bytes: Uint8Array): TtrpcResponse {
  const m = decode(ResponseType(), bytes, 'ttrpc.Response') as {
    status?: {
      code?: number;
      message?: string;
      details?: Array<{ type_url?: string; value?: Uint8Array }>;
    };
    payload?: Uint8Array;
  };
  const out: TtrpcResponse = { payload: ownBytes(m.payload) };
  if (m.status) {
    out.status = {
      code: m.status.code ?? 0,
      message: m.status.message ?? '',
      details: (m.status.details ?? []).map((d) => ({ typeUrl: d.type_url ?? '', value: ownBytes(d.value) })),
    };
  }
  return out;
}

function decode(type: { decode(b: Uint8Array): unknown }, bytes: Uint8Array, what: string): unknown {
  try {
    return type.decode(bytes);
  } catch (e) {
    throw new TtrpcError('TTRPC_PROTOCOL', `${what} does not decode: ${decoderText(e)}`);
  }
}

/** The protobuf decoder's own text (positions and lengths only, never field contents). */
export function decoderText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
