import type { KbsResponse } from './http.js';

/*
 * KBS error bodies (kbs-protocol.md §9): `{"type":"https://github.com/confidential-containers/kbs/errors/<Variant>","detail":"..."}`,
 * parsed as JSON whatever the Content-Type. The variant and detail come from a remote party, so they
 * are sanitized and capped before they reach a message.
 */

export interface KbsErrorInfo {
  /** The error variant (last segment of `type`), e.g. `PolicyDeny`; undefined if the body is not an error body. */
  type: string | undefined;
  detail: string | undefined;
}

const MAX_DETAIL = 300;

function clean(s: string): string {
  // Strip control characters (log injection) and cap the length.
  const t = s.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').trim();
  return t.length > MAX_DETAIL ? `${t.slice(0, MAX_DETAIL)}…` : t;
}

export function parseKbsError(body: Uint8Array): KbsErrorInfo {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    return { type: undefined, detail: undefined };
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return { type: undefined, detail: undefined };
  const o = v as Record<string, unknown>;
  const type = typeof o.type === 'string' ? clean(o.type.slice(o.type.lastIndexOf('/') + 1)) : undefined;
  const detail = typeof o.detail === 'string' ? clean(o.detail) : undefined;
  return { type: type || undefined, detail };
}

/** `HTTP 401 PolicyDeny: Access denied by policy` (or a note that the body was not a KBS error body). */
export function describeKbsResponse(res: KbsResponse): string {
  const { type, detail } = parseKbsError(res.body);
  if (type === undefined && detail === undefined) {
    return `HTTP ${res.status} (the error body is not a KBS {"type","detail"} object)`;
  }
  return `HTTP ${res.status} ${type ?? 'UnknownError'}: ${detail ?? ''}`.trimEnd();
}
