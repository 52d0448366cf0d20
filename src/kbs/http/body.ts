import type { IncomingMessage } from 'node:http';
import { errors } from '../errors.js';

/** The body of a request without one (shared; never written to). */
export const EMPTY_BODY = Buffer.alloc(0);

/** Whether the request declares a body (`readBody` has something to read or to refuse). */
export function hasBody(req: IncomingMessage): boolean {
  const declared = req.headers['content-length'];
  return declared !== undefined ? declared !== '0' : req.headers['transfer-encoding'] !== undefined;
}

/**
 * Reads a request body up to `limit` bytes. A declared Content-Length above the limit is refused
 * before reading; a streamed body is cut off as soon as it passes the limit. Both give 413.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined) {
    const n = Number(declared);
    if (n > limit) return Promise.reject(errors.payloadTooLarge(limit));
    if (n === 0) return Promise.resolve(EMPTY_BODY);
  } else if (req.headers['transfer-encoding'] === undefined) {
    return Promise.resolve(EMPTY_BODY);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (c: Buffer) => {
      if (done) return;
      size += c.length;
      if (size > limit) {
        done = true;
        chunks.length = 0;
        reject(errors.payloadTooLarge(limit));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (done) return;
      done = true;
      resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    });
    req.on('error', (e) => {
      if (done) return;
      done = true;
      reject(e);
    });
  });
}
