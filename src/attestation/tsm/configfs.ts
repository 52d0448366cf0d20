import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AttestationError } from '../errors.js';

/*
 * The Linux configfs-tsm report interface (Documentation/ABI/testing/configfs-tsm): mkdir an entry
 * under /sys/kernel/config/tsm/report, write `inblob` (and options such as `privlevel`), read
 * `outblob` (and `auxblob`), then rmdir. Every write bumps `generation`; reading it after the
 * blobs and comparing with the number of our own writes detects another process having used the
 * same entry in between, in which case the blobs may not answer our inblob.
 *
 * mkdir/rmdir are injectable: a real configfs creates the attribute files on mkdir and drops them on
 * rmdir, which a plain directory in tests cannot imitate.
 */

export const DEFAULT_TSM_REPORT_DIR = '/sys/kernel/config/tsm/report';

export interface TsmFsOps {
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
}

export const configfsOps: TsmFsOps = {
  mkdir: async (path) => {
    await mkdir(path);
  },
  rmdir: (path) => rmdir(path),
};

export type TsmProvider = 'sev_guest' | 'tdx_guest' | (string & {});

export interface TsmReportRequest {
  /** At most 64 bytes; callers pad as their TEE requires. */
  inblob: Uint8Array;
  /** SEV-SNP only: the VMPL to request the report at. Not written when undefined. */
  privlevel?: number;
  /** Fail unless the entry's provider is this one. */
  provider?: TsmProvider;
  /** Also read `auxblob` (SEV-SNP: the host's certificate table). */
  auxblob?: boolean;
}

export interface TsmReport {
  provider: TsmProvider;
  outblob: Uint8Array;
  /** Undefined when not requested or not provided by the kernel. */
  auxblob?: Uint8Array;
  generation: number;
}

function failed(message: string, cause?: unknown): AttestationError {
  return new AttestationError('ATTESTER_FAILED', `configfs-tsm: ${message}`, cause ? { cause } : undefined);
}

function errno(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? 'error';
}

export class TsmReports {
  constructor(
    readonly base: string = DEFAULT_TSM_REPORT_DIR,
    private readonly ops: TsmFsOps = configfsOps,
  ) {}

  /** True when the report directory exists (the kernel has configfs-tsm and it is mounted). */
  async available(): Promise<boolean> {
    try {
      return (await stat(this.base)).isDirectory();
    } catch {
      return false;
    }
  }

  private async withEntry<T>(fn: (dir: string) => Promise<T>): Promise<T> {
    const dir = join(this.base, `cocoseal-${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      await this.ops.mkdir(dir);
    } catch (e) {
      throw failed(`cannot create a report entry in ${this.base} (${errno(e)})`, e);
    }
    try {
      return await fn(dir);
    } finally {
      // A leaked entry only costs kernel memory; the attestation outcome is already decided.
      await this.ops.rmdir(dir).catch(() => undefined);
    }
  }

  private async read(dir: string, name: string): Promise<Buffer> {
    try {
      return await readFile(join(dir, name));
    } catch (e) {
      throw failed(`cannot read ${name} (${errno(e)})`, e);
    }
  }

  private async write(dir: string, name: string, data: Uint8Array | string): Promise<void> {
    try {
      await writeFile(join(dir, name), data);
    } catch (e) {
      throw failed(`cannot write ${name} (${errno(e)})`, e);
    }
  }

  /** The provider behind configfs-tsm (`sev_guest`, `tdx_guest`, …), from a throwaway entry. */
  provider(): Promise<TsmProvider> {
    return this.withEntry(async (dir) => (await this.read(dir, 'provider')).toString('utf8').trim());
  }

  /** Generates one report. */
  async report(req: TsmReportRequest): Promise<TsmReport> {
    if (req.inblob.length === 0 || req.inblob.length > 64) {
      throw failed(`inblob must be 1..64 bytes, got ${req.inblob.length}`);
    }
    return this.withEntry(async (dir) => {
      const provider = (await this.read(dir, 'provider')).toString('utf8').trim();
      if (req.provider && provider !== req.provider) {
        throw failed(`provider is ${provider || '(empty)'}, expected ${req.provider}`);
      }
      let writes = 0;
      if (req.privlevel !== undefined) {
        await this.write(dir, 'privlevel', `${req.privlevel}\n`);
        writes++;
      }
      await this.write(dir, 'inblob', req.inblob);
      writes++;
      const outblob = await this.read(dir, 'outblob');
      let auxblob: Buffer | undefined;
      if (req.auxblob) {
        try {
          auxblob = await readFile(join(dir, 'auxblob'));
        } catch (e) {
          if (errno(e) !== 'ENOENT') throw failed(`cannot read auxblob (${errno(e)})`, e);
        }
      }
      const text = (await this.read(dir, 'generation')).toString('utf8').trim();
      const generation = /^\d+$/.test(text) ? Number(text) : Number.NaN;
      if (Number.isNaN(generation))
        throw failed(`generation is not a number: ${JSON.stringify(text.slice(0, 20))}`);
      if (generation !== writes) {
        throw failed(
          `generation is ${generation} after our ${writes} write(s): another process wrote to this report entry, so the report may not carry our data; retry`,
        );
      }
      if (outblob.length === 0) throw failed('outblob is empty');
      return {
        provider,
        outblob: new Uint8Array(outblob),
        auxblob: auxblob ? new Uint8Array(auxblob) : undefined,
        generation,
      };
    });
  }
}
