import type { IncomingHttpHeaders } from 'node:http';

/*
 * A strict HTTP/1.1 response parser (RFC 9112) for the KBS client's own connections: status line,
 * header fields, then a body framed by Content-Length, chunked transfer coding, or the end of the
 * connection. Pure: bytes in, a response or a typed error out.
 *
 * Strict on purpose. The client talks to one kind of peer (a KBS), so anything a conforming server
 * never sends is refused instead of guessed at: obsolete line folding, bare LF line ends, codings
 * other than `chunked`, conflicting Content-Length values, `101 Switching Protocols` (never asked
 * for), bytes after a complete response (no pipelining is ever done). Interim 1xx responses are
 * skipped, as RFC 9110 §15.2 requires.
 */

export type Http1ErrorKind = 'malformed' | 'too-large' | 'incomplete';

export class Http1ParseError extends Error {
  constructor(
    readonly kind: Http1ErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'Http1ParseError';
  }
}

export interface ParsedResponse {
  status: number;
  /** Lower-case names; `set-cookie` as a list, other repeated fields joined with `, ` (as node:http). */
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Whether the connection may carry another request. */
  keepAlive: boolean;
}

export interface ResponseParserOptions {
  /** Cap on the status line plus header fields (and on chunked trailers). */
  maxHeaderBytes?: number;
  maxBodyBytes: number;
  /** A response to HEAD has no body whatever its headers say. */
  head?: boolean;
}

const STATUS_LINE = /^HTTP\/1\.([01]) ([1-9]\d\d)(?: [^\r\n]*)?$/;
const FIELD_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*?)[ \t]*$/;
const FORBIDDEN_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const CHUNK_LINE = /^([0-9A-Fa-f]{1,8})[ \t]*(?:;[^\r\n]*)?$/;
const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-end' | 'trailers' | 'close' | 'done';

const malformed = (why: string) => new Http1ParseError('malformed', `malformed HTTP response: ${why}`);

export class ResponseParser {
  readonly #maxHead: number;
  readonly #maxBody: number;
  readonly #headRequest: boolean;
  #state: State = 'head';
  #buf: Buffer = Buffer.alloc(0);
  #status = 0;
  #headers: IncomingHttpHeaders = {};
  #keepAlive = false;
  #remaining = 0;
  #body: Buffer[] = [];
  #bodySize = 0;
  #trailerBytes = 0;
  /** Bytes received so far (a connection that closes before any is a stale keep-alive connection). */
  received = 0;

  constructor(opts: ResponseParserOptions) {
    this.#maxHead = opts.maxHeaderBytes ?? 64 * 1024;
    this.#maxBody = opts.maxBodyBytes;
    this.#headRequest = opts.head ?? false;
  }

  /** Feeds received bytes; returns the response once it is complete. */
  push(chunk: Buffer): ParsedResponse | undefined {
    this.received += chunk.length;
    if (this.#state === 'done') throw malformed('data after the end of the response');
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    for (;;) {
      const progressed = this.#step();
      if ((this.#state as State) === 'done') {
        if (this.#buf.length > 0) throw malformed('data after the end of the response');
        return this.#result();
      }
      if (!progressed) return undefined;
    }
  }

  /** The peer closed the connection: completes a close-delimited body, otherwise fails. */
  end(): ParsedResponse {
    if (this.#state === 'close') {
      this.#state = 'done';
      return this.#result();
    }
    throw new Http1ParseError(
      'incomplete',
      this.received === 0
        ? 'connection closed before any response'
        : 'connection closed before the response was complete',
    );
  }

  #result(): ParsedResponse {
    const body = this.#body.length === 1 ? this.#body[0] : Buffer.concat(this.#body, this.#bodySize);
    return { status: this.#status, headers: this.#headers, body, keepAlive: this.#keepAlive };
  }

  /** One parsing step; false when more bytes are needed. */
  #step(): boolean {
    switch (this.#state) {
      case 'head':
        return this.#parseHead();
      case 'length':
        return this.#takeCounted('done');
      case 'chunk-size': {
        const line = this.#line(4096, 'chunk size line');
        if (line === undefined) return false;
        const m = CHUNK_LINE.exec(line);
        if (!m) throw malformed('bad chunk size line');
        this.#remaining = Number.parseInt(m[1], 16);
        this.#state = this.#remaining === 0 ? 'trailers' : 'chunk-data';
        return true;
      }
      case 'chunk-data':
        return this.#takeCounted('chunk-end');
      case 'chunk-end': {
        if (this.#buf.length < 2) return false;
        if (this.#buf[0] !== 0x0d || this.#buf[1] !== 0x0a)
          throw malformed('chunk data not followed by CRLF');
        this.#buf = this.#buf.subarray(2);
        this.#state = 'chunk-size';
        return true;
      }
      case 'trailers': {
        // Trailer fields are read and dropped; an empty line ends the message.
        const line = this.#line(this.#maxHead, 'trailer');
        if (line === undefined) return false;
        this.#trailerBytes += line.length + 2;
        if (this.#trailerBytes > this.#maxHead)
          throw new Http1ParseError('too-large', 'response trailers too large');
        if (line === '') this.#state = 'done';
        else if (!FIELD_LINE.test(line)) throw malformed('bad trailer field');
        return true;
      }
      case 'close':
        if (this.#buf.length === 0) return false;
        this.#addBody(this.#buf);
        this.#buf = Buffer.alloc(0);
        return true;
      default:
        return false;
    }
  }

  /** Moves up to `#remaining` buffered bytes into the body; at zero, goes on to `next`. */
  #takeCounted(next: State): boolean {
    if (this.#buf.length === 0) return false;
    const n = Math.min(this.#remaining, this.#buf.length);
    this.#addBody(this.#buf.subarray(0, n));
    this.#buf = this.#buf.subarray(n);
    this.#remaining -= n;
    if (this.#remaining === 0) this.#state = next;
    return true;
  }

  /** The next CRLF-terminated line (latin1), or undefined when it has not fully arrived. */
  #line(max: number, what: string): string | undefined {
    const i = this.#buf.indexOf(CRLF);
    if (i < 0) {
      if (this.#buf.length > max) throw new Http1ParseError('too-large', `${what} too long`);
      return undefined;
    }
    const line = this.#buf.toString('latin1', 0, i);
    this.#buf = this.#buf.subarray(i + 2);
    return line;
  }

  #addBody(b: Buffer): void {
    this.#bodySize += b.length;
    if (this.#bodySize > this.#maxBody)
      throw new Http1ParseError('too-large', `response body exceeds ${this.#maxBody} bytes`);
    if (b.length > 0) this.#body.push(b);
  }

  #parseHead(): boolean {
    const end = this.#buf.indexOf(HEAD_END);
    if (end < 0) {
      if (this.#buf.length > this.#maxHead)
        throw new Http1ParseError('too-large', 'response header too large');
      return false;
    }
    if (end + 4 > this.#maxHead) throw new Http1ParseError('too-large', 'response header too large');
    const lines = this.#buf.toString('latin1', 0, end).split('\r\n');
    this.#buf = this.#buf.subarray(end + 4);
    const status = STATUS_LINE.exec(lines[0]);
    if (!status) throw malformed('bad status line');
    const minor = Number(status[1]);
    const code = Number(status[2]);
    const headers: IncomingHttpHeaders = {};
    for (let i = 1; i < lines.length; i++) {
      const f = FIELD_LINE.exec(lines[i]);
      if (!f) throw malformed(lines[i].includes('\n') ? 'bare LF in the header' : 'bad header field');
      const name = f[1].toLowerCase();
      const value = f[2];
      if (FORBIDDEN_VALUE.test(value)) throw malformed(`invalid character in header ${name}`);
      if (name === 'set-cookie') {
        const list = headers['set-cookie'];
        if (list) list.push(value);
        else headers['set-cookie'] = [value];
      } else {
        const prev = headers[name];
        headers[name] = prev === undefined ? value : `${prev}, ${value}`;
      }
    }
    if (code < 200) {
      if (code === 101) throw malformed('unexpected 101 Switching Protocols');
      return true; // interim response: the final one follows
    }
    this.#status = code;
    this.#headers = headers;
    const connection = String(headers.connection ?? '').toLowerCase();
    const tokens = connection.split(',').map((t) => t.trim());
    this.#keepAlive = minor === 1 ? !tokens.includes('close') : tokens.includes('keep-alive');
    if (this.#headRequest || code === 204 || code === 304) {
      this.#state = 'done';
      return true;
    }
    const te = headers['transfer-encoding'];
    if (te !== undefined) {
      if (String(te).trim().toLowerCase() !== 'chunked')
        throw malformed(`unsupported transfer coding ${JSON.stringify(te)}`);
      this.#state = 'chunk-size';
      return true;
    }
    const cl = headers['content-length'];
    if (cl !== undefined) {
      const values = new Set(
        String(cl)
          .split(',')
          .map((v) => v.trim()),
      );
      const [v] = values;
      if (values.size !== 1 || !/^\d{1,15}$/.test(v)) throw malformed('bad content-length');
      this.#remaining = Number(v);
      if (this.#remaining > this.#maxBody)
        throw new Http1ParseError('too-large', `response body exceeds ${this.#maxBody} bytes`);
      this.#state = this.#remaining === 0 ? 'done' : 'length';
      return true;
    }
    // No framing: the body runs to the end of the connection, which cannot be reused.
    this.#keepAlive = false;
    this.#state = 'close';
    return true;
  }
}
