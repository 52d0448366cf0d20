import { encodeB64U, encodeStd } from '../crypto/base64.js';
import { resourceRequestPath } from './client.js';
import { KbsClientError } from './errors.js';
import { KbsHttp, type KbsResponse } from './http.js';
import { describeKbsResponse, parseKbsError } from './kbs-error.js';

/*
 * The KBS admin API (kbs-protocol.md §7) with a bearer admin token. Every call is one request;
 * nothing is retried (admin changes are not idempotent in general and a human is watching).
 */

export interface KbsAdminClientOptions {
  url: string;
  extraRootCertsPem?: string | readonly string[];
  timeoutMs?: number;
  /** Bearer admin JWT; absent for `InsecureAllowAll` servers. */
  adminToken?: string;
}

export interface AttestationPolicyOptions {
  /** Policy id; default `default_cpu` (the id the KBS evaluates for CPU evidence, §7.1). */
  id?: string;
  /** Policy type; default `rego` (ignored by the KBS). */
  type?: string;
}

/** Sample RVPS value typing for `setSampleReferenceValue` (§8.4). */
export interface SampleReferenceValueOptions {
  /** Store the value itself rather than a one-element list. */
  single?: boolean;
  /** Parse the value as an integer / a boolean instead of a string. */
  as?: 'string' | 'integer' | 'bool';
}

export interface PolicyCheckRequest {
  /** Attestation token (EAR JWT) whose claims are the policy input. */
  token?: string;
  /** Claims to evaluate directly, instead of a token. */
  claims?: unknown;
  /** Resource path `repo/type/tag`. */
  path: string;
  /** Plugin; default `resource`. */
  plugin?: string;
  query?: Record<string, string>;
  /** Rego to evaluate instead of the installed policy. */
  policy?: string;
}

export interface AuditListOptions {
  since?: Date;
  path?: string;
  afterSeq?: number;
  limit?: number;
}

const ADMIN_DENIALS = new Set(['AdminAuthAccess', 'AdminAuthInitialization']);

/** Builds the sample RVPS message for `{name: value}` (§8.4). */
export function sampleReferenceValueMessage(
  name: string,
  value: string,
  options: SampleReferenceValueOptions = {},
): string {
  let v: unknown = value;
  if (options.as === 'integer') {
    if (!/^-?\d+$/.test(value))
      throw new KbsClientError(
        'INVALID_ARGUMENT',
        `reference value ${JSON.stringify(value)} is not an integer`,
      );
    v = Number(value);
    if (!Number.isSafeInteger(v))
      throw new KbsClientError('INVALID_ARGUMENT', `reference value ${value} is out of range`);
  } else if (options.as === 'bool') {
    if (value !== 'true' && value !== 'false') {
      throw new KbsClientError(
        'INVALID_ARGUMENT',
        `reference value ${JSON.stringify(value)} is not true or false`,
      );
    }
    v = value === 'true';
  }
  const payload = JSON.stringify({ [name]: options.single ? v : [v] });
  return JSON.stringify({ version: '0.1.0', type: 'sample', payload: encodeStd(Buffer.from(payload)) });
}

function checkRefId(id: string): string {
  const segs = id.split('/');
  if (!id || segs.some((s) => s === '' || s === '.' || s === '..' || !/^[A-Za-z0-9._~-]+$/.test(s))) {
    throw new KbsClientError('INVALID_ARGUMENT', `invalid reference value id ${JSON.stringify(id)}`);
  }
  return id;
}

export class KbsAdminClient {
  readonly http: KbsHttp;
  private readonly token: string | undefined;

  constructor(options: KbsAdminClientOptions) {
    this.http = new KbsHttp({
      url: options.url,
      extraRootCertsPem: options.extraRootCertsPem,
      timeoutMs: options.timeoutMs,
    });
    this.token = options.adminToken?.trim() || undefined;
  }

  private async call(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    what: string,
    body?: { bytes: Uint8Array | string; type: string },
  ): Promise<KbsResponse> {
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (body) headers['content-type'] = body.type;
    const res = await this.http.request({ method, path, headers, body: body?.bytes });
    if (res.status >= 200 && res.status < 300) return res;
    const { type } = parseKbsError(res.body);
    const opts = { status: res.status, kbsType: type };
    if (res.status === 401 && type && ADMIN_DENIALS.has(type)) {
      throw new KbsClientError('ADMIN_DENIED', `KBS refused ${what}: ${describeKbsResponse(res)}`, opts);
    }
    throw new KbsClientError('KBS_ERROR', `KBS failed ${what}: ${describeKbsResponse(res)}`, opts);
  }

  private json(res: KbsResponse, what: string): unknown {
    try {
      return JSON.parse(res.body.toString('utf8'));
    } catch (e) {
      throw new KbsClientError('RESPONSE_INVALID', `KBS answer to ${what} is not JSON`, { cause: e });
    }
  }

  /** Stores `bytes` at `repo/type/tag`, replacing any previous value. */
  async setResource(path: string, bytes: Uint8Array): Promise<void> {
    await this.call('POST', resourceRequestPath({ path }), `set-resource ${path}`, {
      bytes,
      type: 'application/octet-stream',
    });
  }

  async deleteResource(path: string): Promise<void> {
    await this.call('DELETE', resourceRequestPath({ path }), `delete-resource ${path}`);
  }

  /** Installs the resource policy (Rego text; sent B64U without padding, §7.1). */
  async setResourcePolicy(rego: string): Promise<void> {
    await this.call('POST', '/resource-policy', 'set-resource-policy', {
      bytes: JSON.stringify({ policy: encodeB64U(Buffer.from(rego, 'utf8')) }),
      type: 'application/json',
    });
  }

  /** The installed policy ids (upstream returns ids, not the Rego text, §2). */
  async getResourcePolicy(): Promise<unknown> {
    return this.json(
      await this.call('GET', '/resource-policy', 'get-resource-policy'),
      'get-resource-policy',
    );
  }

  async setAttestationPolicy(rego: string, options: AttestationPolicyOptions = {}): Promise<void> {
    const id = options.id ?? 'default_cpu';
    if (!/^[A-Za-z0-9_.-]+$/.test(id))
      throw new KbsClientError('INVALID_ARGUMENT', `invalid policy id ${JSON.stringify(id)}`);
    await this.call('POST', '/attestation-policy', `set-attestation-policy ${id}`, {
      bytes: JSON.stringify({
        type: options.type ?? 'rego',
        policy_id: id,
        policy: encodeB64U(Buffer.from(rego, 'utf8')),
      }),
      type: 'application/json',
    });
  }

  /** Registers an RVPS message (JSON text, §8.4). */
  async setReferenceValues(message: string): Promise<void> {
    await this.call('POST', '/reference-value', 'set-reference-value', {
      bytes: message,
      type: 'application/json',
    });
  }

  async setSampleReferenceValue(
    name: string,
    value: string,
    options?: SampleReferenceValueOptions,
  ): Promise<void> {
    await this.setReferenceValues(sampleReferenceValueMessage(name, value, options));
  }

  async getReferenceValue(id: string): Promise<unknown> {
    const path = `/reference-value/${checkRefId(id)}`;
    return this.json(await this.call('GET', path, `get-reference-value ${id}`), 'get-reference-value');
  }

  /** Dry-run of the resource policy: would `path` be released for these claims? */
  async policyCheck(req: PolicyCheckRequest): Promise<unknown> {
    const body: Record<string, unknown> = { plugin: req.plugin ?? 'resource', path: req.path };
    if (req.token !== undefined) body.token = req.token;
    if (req.claims !== undefined) body.claims = req.claims;
    if (req.query !== undefined) body.query = req.query;
    if (req.policy !== undefined) body.policy = encodeB64U(Buffer.from(req.policy, 'utf8'));
    const res = await this.call('POST', '/resource-policy/check', 'policy check', {
      bytes: JSON.stringify(body),
      type: 'application/json',
    });
    return this.json(res, 'policy check');
  }

  async auditList(options: AuditListOptions = {}): Promise<unknown> {
    const q = new URLSearchParams();
    if (options.since) q.set('since', options.since.toISOString());
    if (options.path) q.set('path', options.path);
    if (options.afterSeq !== undefined) q.set('after_seq', String(options.afterSeq));
    if (options.limit !== undefined) q.set('limit', String(options.limit));
    const qs = q.toString();
    return this.json(await this.call('GET', `/audit${qs ? `?${qs}` : ''}`, 'audit list'), 'audit list');
  }

  async auditVerify(): Promise<unknown> {
    return this.json(await this.call('GET', '/audit/verify', 'audit verify'), 'audit verify');
  }

  close(): void {
    this.http.close();
  }
}
