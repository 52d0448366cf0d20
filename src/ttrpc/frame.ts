import { TtrpcError } from './errors.js';

/*
 * ttRPC framing (cdh.md §3.1): a 10-byte header — u32 BE payload length, u32 BE stream id, u8 type,
 * u8 flags — followed by `length` payload bytes. Payloads are capped at 4 MiB; an oversized frame is
 * skipped without ever buffering its body, and reported so the receiver can answer on its stream.
 */

export const FRAME_HEADER_LENGTH = 10;
/** 4 MiB: the largest payload a frame may carry, in both directions. */
export const MAX_MESSAGE_LENGTH = 4 * 1024 * 1024;

export const MessageType = { Request: 0x01, Response: 0x02, Data: 0x03 } as const;
/** Streaming-only flag bits; unary calls send 0. */
export const FrameFlag = { RemoteClosed: 0x01, RemoteOpen: 0x02, NoData: 0x04 } as const;

export interface FrameHeader {
  length: number;
  streamId: number;
  type: number;
  flags: number;
}

export type Frame =
  | { header: FrameHeader; payload: Buffer; oversized?: undefined }
  /** The peer announced more than MAX_MESSAGE_LENGTH bytes; they are being discarded. */
  | { header: FrameHeader; payload?: undefined; oversized: true };

export function oversizedMessage(length: number): string {
  return `message length ${length} exceed maximum message size of ${MAX_MESSAGE_LENGTH}`;
}

/** Header and payload in one buffer. Refuses payloads over the limit: nothing is sent. */
export function encodeFrame(streamId: number, type: number, payload: Uint8Array, flags = 0): Buffer {
  const out = Buffer.allocUnsafeSlow(FRAME_HEADER_LENGTH + payload.length);
  writeHeader(out, streamId, type, payload.length, flags);
  out.set(payload, FRAME_HEADER_LENGTH);
  return out;
}

/** The part of a socket `writeFrame` needs. */
export interface FrameSink {
  cork(): void;
  uncork(): void;
  write(chunk: Uint8Array): boolean;
}

/**
 * Writes one frame as header + payload without copying the payload; corked so both go out in one
 * writev. Returns `write`'s backpressure signal. Refuses payloads over the limit (nothing is written).
 */
export function writeFrame(sink: FrameSink, streamId: number, type: number, payload: Uint8Array): boolean {
  const header = Buffer.allocUnsafe(FRAME_HEADER_LENGTH);
  writeHeader(header, streamId, type, payload.length, 0);
  if (payload.length === 0) return sink.write(header);
  sink.cork();
  sink.write(header);
  const ok = sink.write(payload);
  sink.uncork();
  return ok;
}

function writeHeader(out: Buffer, streamId: number, type: number, length: number, flags: number): void {
  if (length > MAX_MESSAGE_LENGTH) throw new TtrpcError('TTRPC_MESSAGE_TOO_LARGE', oversizedMessage(length));
  checkU32(streamId, 'stream id');
  out.writeUInt32BE(length, 0);
  out.writeUInt32BE(streamId, 4);
  out.writeUInt8(type, 8);
  out.writeUInt8(flags, 9);
}

export function decodeHeader(b: Uint8Array): FrameHeader {
  if (b.length < FRAME_HEADER_LENGTH) throw new RangeError('a ttRPC frame header is 10 bytes');
  const v = new DataView(b.buffer, b.byteOffset, FRAME_HEADER_LENGTH);
  return { length: v.getUint32(0), streamId: v.getUint32(4), type: v.getUint8(8), flags: v.getUint8(9) };
}

function checkU32(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`${what} must be a u32`);
}

/**
 * Incremental frame parser for a byte stream. Memory use is bounded by what the peer has actually
 * sent of the current frame (never by the announced length), and at most MAX_MESSAGE_LENGTH.
 */
export class FrameReader {
  readonly #header = Buffer.alloc(FRAME_HEADER_LENGTH);
  #headerFill = 0;
  #current: FrameHeader | undefined;
  #parts: Buffer[] = [];
  #bodyFill = 0;
  #discard = 0;

  /** Bytes held for the frame in progress (header and body so far). */
  get buffered(): number {
    return this.#headerFill + this.#bodyFill;
  }

  /** True when no partial frame is pending (a clean place for the stream to end). */
  get idle(): boolean {
    return this.#headerFill === 0 && this.#current === undefined && this.#discard === 0;
  }

  push(chunk: Uint8Array): Frame[] {
    const out: Frame[] = [];
    let off = 0;
    while (off < chunk.length) {
      if (this.#discard > 0) {
        const n = Math.min(this.#discard, chunk.length - off);
        this.#discard -= n;
        off += n;
        continue;
      }
      if (this.#current === undefined) {
        const n = Math.min(FRAME_HEADER_LENGTH - this.#headerFill, chunk.length - off);
        this.#header.set(chunk.subarray(off, off + n), this.#headerFill);
        this.#headerFill += n;
        off += n;
        if (this.#headerFill < FRAME_HEADER_LENGTH) break;
        this.#headerFill = 0;
        const header = decodeHeader(this.#header);
        if (header.length > MAX_MESSAGE_LENGTH) {
          this.#discard = header.length;
          out.push({ header, oversized: true });
        } else if (header.length === 0) {
          out.push({ header, payload: Buffer.alloc(0) });
        } else {
          this.#current = header;
        }
        continue;
      }
      const want = this.#current.length - this.#bodyFill;
      const n = Math.min(want, chunk.length - off);
      this.#parts.push(Buffer.from(chunk.buffer, chunk.byteOffset + off, n));
      this.#bodyFill += n;
      off += n;
      if (this.#bodyFill === this.#current.length) {
        // A body that arrived in one read is a view of that read's buffer (Node sizes those to the
        // bytes read); one spread over several reads is joined into an exact-size unpooled buffer.
        let payload = this.#parts[0];
        if (this.#parts.length > 1) {
          payload = Buffer.allocUnsafeSlow(this.#current.length);
          let at = 0;
          for (const p of this.#parts) {
            payload.set(p, at);
            at += p.length;
          }
        }
        out.push({ header: this.#current, payload });
        this.#current = undefined;
        this.#parts = [];
        this.#bodyFill = 0;
      }
    }
    return out;
  }
}
