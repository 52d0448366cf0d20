import { KbsError } from '../errors.js';

/*
 * Small typed readers for a parsed configuration document. Every failure names the full key
 * (`[http_server] payload_request_size`), so an operator can fix the file without reading code.
 */

export type Table = Record<string, unknown>;

export function configError(msg: string): KbsError {
  return new KbsError('CONFIG_INVALID', `kbs config: ${msg}`);
}

export function isTable(v: unknown): v is Table {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);
}

export class Reader {
  readonly #seen = new Set<string>();

  constructor(
    readonly table: Table,
    readonly where: string,
  ) {}

  #name(key: string): string {
    return this.where ? `[${this.where}] ${key}` : key;
  }

  has(key: string): boolean {
    return this.table[key] !== undefined;
  }

  #get(key: string): unknown {
    this.#seen.add(key);
    return this.table[key];
  }

  /** Marks keys that upstream accepts but that do not apply here; they are read and ignored. */
  ignore(...keys: string[]): void {
    for (const k of keys) this.#seen.add(k);
  }

  string(key: string): string | undefined;
  string(key: string, def: string): string;
  string(key: string, def?: string): string | undefined {
    const v = this.#get(key);
    if (v === undefined) return def;
    if (typeof v !== 'string') throw configError(`${this.#name(key)} must be a string`);
    return v;
  }

  requiredString(key: string): string {
    const v = this.string(key);
    if (v === undefined || v === '') throw configError(`${this.#name(key)} is required`);
    return v;
  }

  bool(key: string, def: boolean): boolean {
    const v = this.#get(key);
    if (v === undefined) return def;
    if (typeof v !== 'boolean') throw configError(`${this.#name(key)} must be true or false`);
    return v;
  }

  int(key: string, def: number, min: number, max: number): number {
    let v = this.#get(key);
    if (v === undefined) return def;
    if (typeof v === 'bigint') v = Number(v);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw configError(`${this.#name(key)} must be an integer between ${min} and ${max}`);
    }
    return v;
  }

  stringList(key: string): string[] {
    const v = this.#get(key);
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) {
      throw configError(`${this.#name(key)} must be a list of strings`);
    }
    return v as string[];
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], def?: T): T {
    const v = this.#get(key);
    if (v === undefined) {
      if (def === undefined)
        throw configError(`${this.#name(key)} is required (one of ${allowed.join(', ')})`);
      return def;
    }
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      throw configError(`${this.#name(key)} must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
    }
    return v as T;
  }

  /** A sub-table (absent → undefined). */
  sub(key: string): Reader | undefined {
    const v = this.#get(key);
    if (v === undefined) return undefined;
    if (!isTable(v)) throw configError(`${this.#name(key)} must be a table`);
    return new Reader(v, this.where ? `${this.where}.${key}` : key);
  }

  /** An array of tables. */
  tables(key: string): Reader[] {
    const v = this.#get(key);
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every(isTable))
      throw configError(`${this.#name(key)} must be a list of tables`);
    return v.map((t, i) => new Reader(t as Table, `${this.where ? `${this.where}.` : ''}${key}[${i}]`));
  }

  /** The raw value, for sections validated elsewhere. */
  raw(key: string): unknown {
    return this.#get(key);
  }

  /** Rejects any key that was not read. Call last. */
  done(): void {
    for (const k of Object.keys(this.table)) {
      if (!this.#seen.has(k)) {
        throw configError(`unknown key ${this.where ? `[${this.where}] ` : ''}${k}`);
      }
    }
  }
}
