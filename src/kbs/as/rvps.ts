import { decodeStd } from '../../crypto/base64.js';
import { NS } from '../storage/namespaces.js';
import type { Storage } from '../storage/storage.js';

/*
 * Built-in reference value provider (kbs-protocol.md §8.4) with the `sample` extractor: the message
 * `{"version":"0.1.0","type":"sample","payload":"<STD base64 of {name: value, ...}>"}` stores each
 * entry in namespace `reference_value` under its name, as
 * `{"version":"0.1.0","name":…,"expiration":"YYYY-MM-DDTHH:MM:SSZ","value":…}`. Queries return `value`
 * without checking expiry (as upstream). Values are read fresh on every attestation, never cached, so
 * replicas sharing a database see updates immediately.
 */

export class RvpsError extends Error {}

const NAME = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}$/;

function expiration(now: Date): string {
  const d = new Date(now.getTime());
  d.setUTCMonth(d.getUTCMonth() + 12);
  return `${d.toISOString().slice(0, 19)}Z`;
}

export class ReferenceValues {
  constructor(private readonly storage: Storage) {}

  /** Registers an RVPS message. Returns the names stored. */
  async register(message: unknown, now = new Date()): Promise<string[]> {
    if (!message || typeof message !== 'object' || Array.isArray(message))
      throw new RvpsError('the message must be a JSON object');
    const m = message as Record<string, unknown>;
    const version = m.version ?? '0.1.0';
    if (version !== '0.1.0')
      throw new RvpsError(`unsupported message version ${JSON.stringify(version)} (expected 0.1.0)`);
    if (m.type !== 'sample')
      throw new RvpsError(`unknown reference value type ${JSON.stringify(m.type)} (supported: sample)`);
    if (typeof m.payload !== 'string') throw new RvpsError('"payload" must be a base64 string');
    let payload: unknown;
    try {
      payload = JSON.parse(decodeStd(m.payload, 'payload').toString('utf8'));
    } catch {
      throw new RvpsError('"payload" must be the standard base64 of a JSON object');
    }
    if (!payload || typeof payload !== 'object' || Array.isArray(payload))
      throw new RvpsError('"payload" must decode to a JSON object');
    const entries = Object.entries(payload as Record<string, unknown>);
    for (const [name] of entries) {
      if (!NAME.test(name))
        throw new RvpsError(`reference value name ${JSON.stringify(name)} is not allowed`);
    }
    const exp = expiration(now);
    for (const [name, value] of entries) {
      const rec = { version: '0.1.0', name, expiration: exp, value };
      await this.storage.set(NS.referenceValue, name, Buffer.from(JSON.stringify(rec)), { overwrite: true });
    }
    return entries.map(([n]) => n);
  }

  async get(name: string): Promise<unknown | undefined> {
    if (!NAME.test(name)) throw new RvpsError(`reference value name ${JSON.stringify(name)} is not allowed`);
    const b = await this.storage.get(NS.referenceValue, name);
    if (!b) return undefined;
    try {
      return (JSON.parse(Buffer.from(b).toString('utf8')) as { value: unknown }).value;
    } catch {
      throw new RvpsError(`stored reference value ${name} is corrupt`);
    }
  }

  async getMany(names: readonly string[]): Promise<Map<string, unknown>> {
    const out = new Map<string, unknown>();
    await Promise.all(
      names.map(async (n) => {
        const v = await this.get(n);
        if (v !== undefined) out.set(n, v);
      }),
    );
    return out;
  }
}
