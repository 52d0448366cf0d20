/*
 * Exact-bytes access to a member of a JSON object. Intel signs the inner `tcbInfo` /
 * `enclaveIdentity` value as served (tee-evidence.md §2.6), so the verifier must hash those bytes,
 * never a re-serialization. The scanner works on bytes: structural characters are ASCII, and UTF-8
 * continuation bytes can never look like them.
 */

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

class Scanner {
  pos = 0;
  constructor(readonly b: Uint8Array) {}

  ws(): void {
    while (this.pos < this.b.length && WS.has(this.b[this.pos])) this.pos++;
  }

  expect(ch: number): void {
    this.ws();
    if (this.b[this.pos] !== ch) throw new Error(`expected '${String.fromCharCode(ch)}' at byte ${this.pos}`);
    this.pos++;
  }

  string(): string {
    this.ws();
    const start = this.pos;
    if (this.b[this.pos] !== 0x22) throw new Error(`expected a string at byte ${this.pos}`);
    this.pos++;
    while (this.pos < this.b.length) {
      const c = this.b[this.pos++];
      if (c === 0x5c) this.pos++;
      else if (c === 0x22) return JSON.parse(Buffer.from(this.b.subarray(start, this.pos)).toString('utf8'));
    }
    throw new Error('unterminated string');
  }

  /** Skips one value and returns its [start, end) byte range. */
  value(): [number, number] {
    this.ws();
    const start = this.pos;
    const c = this.b[this.pos];
    if (c === 0x22) {
      this.string();
    } else if (c === 0x7b || c === 0x5b) {
      let depth = 0;
      while (this.pos < this.b.length) {
        const d = this.b[this.pos];
        if (d === 0x22) {
          this.string();
          continue;
        }
        this.pos++;
        if (d === 0x7b || d === 0x5b) depth++;
        else if (d === 0x7d || d === 0x5d) {
          depth--;
          if (depth === 0) break;
        }
      }
      if (depth !== 0) throw new Error('unbalanced brackets');
    } else {
      while (
        this.pos < this.b.length &&
        !WS.has(this.b[this.pos]) &&
        ![0x2c, 0x7d, 0x5d].includes(this.b[this.pos])
      ) {
        this.pos++;
      }
    }
    if (this.pos === start) throw new Error(`expected a value at byte ${start}`);
    return [start, this.pos];
  }
}

/**
 * The exact bytes of member `key` of the top-level JSON object in `text`, or undefined when absent.
 * Throws when `text` is not a JSON object.
 */
export function rawJsonMember(text: Uint8Array, key: string): Uint8Array | undefined {
  // Validate the whole document first, so the scanner only ever sees well-formed JSON.
  const doc = JSON.parse(Buffer.from(text).toString('utf8'));
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new Error('not a JSON object');
  const s = new Scanner(text);
  s.expect(0x7b);
  s.ws();
  if (s.b[s.pos] === 0x7d) return undefined;
  let found: Uint8Array | undefined;
  for (;;) {
    const k = s.string();
    s.expect(0x3a);
    const [start, end] = s.value();
    // JSON.parse keeps the last duplicate; so do we, so the bytes checked are the bytes used.
    if (k === key) found = text.subarray(start, end);
    s.ws();
    if (s.b[s.pos] === 0x2c) {
      s.pos++;
      continue;
    }
    s.expect(0x7d);
    return found;
  }
}
