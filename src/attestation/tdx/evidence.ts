import { AttestationError } from '../errors.js';

/*
 * What arrives at /attest for tee "tdx" (tee-evidence.md §2.9): `{"cc_eventlog": <b64|null>,
 * "quote": <b64>}`. Raw quote bytes (e.g. a file given to the CLI) are accepted too.
 */

export interface TdxEvidence {
  quote: Uint8Array;
  /** The CC event log, when one was sent (null and "" mean none). */
  ccEventLog?: Uint8Array;
}

const STD_B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function b64(v: string, field: string): Buffer {
  const s = v.replace(/[\r\n]/g, '');
  if (!STD_B64.test(s))
    throw new AttestationError('EVIDENCE_MALFORMED', `TDX evidence: ${field} is not standard base64`);
  return Buffer.from(s, 'base64');
}

function fromJson(v: unknown): TdxEvidence {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new AttestationError(
      'EVIDENCE_MALFORMED',
      'TDX evidence: expected an object {"quote", "cc_eventlog"}',
    );
  }
  const o = v as Record<string, unknown>;
  if (typeof o.quote !== 'string' || o.quote === '') {
    throw new AttestationError('EVIDENCE_MALFORMED', 'TDX evidence: "quote" is missing or empty');
  }
  const out: TdxEvidence = { quote: b64(o.quote, 'quote') };
  if (o.cc_eventlog !== undefined && o.cc_eventlog !== null) {
    if (typeof o.cc_eventlog !== 'string') {
      throw new AttestationError('EVIDENCE_MALFORMED', 'TDX evidence: "cc_eventlog" is not a string');
    }
    if (o.cc_eventlog !== '') out.ccEventLog = b64(o.cc_eventlog, 'cc_eventlog');
  }
  return out;
}

function parseJsonText(text: string): TdxEvidence {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new AttestationError(
      'EVIDENCE_MALFORMED',
      `TDX evidence: not valid JSON (${(e as Error).message})`,
    );
  }
  return fromJson(v);
}

/** Accepts the Trustee JSON (object, or its text) or the raw quote bytes. */
export function decodeTdxEvidence(evidence: unknown): TdxEvidence {
  if (evidence instanceof Uint8Array) {
    // A quote starts with version 4 or 5 (little-endian u16), never with '{' or whitespace.
    let i = 0;
    while (i < evidence.length && [0x20, 0x09, 0x0a, 0x0d].includes(evidence[i])) i++;
    if (evidence[i] === 0x7b) return parseJsonText(Buffer.from(evidence).toString('utf8'));
    return { quote: evidence };
  }
  if (typeof evidence === 'string') return parseJsonText(evidence);
  return fromJson(evidence);
}
