import { CocosealError } from '../common/errors.js';
import { TtrpcClient } from '../ttrpc/client.js';
import { TtrpcStatusError } from '../ttrpc/errors.js';
import { callRpc } from './api/rpc.js';
import { CdhRpc } from './api/services.js';
import { CdhError } from './errors.js';
import type { Unsealer } from './hub.js';

/** Unseals through a running CDH daemon's socket (what `cdh exec` uses when a daemon is configured). */
export class SocketUnsealer implements Unsealer {
  private client: Promise<TtrpcClient> | undefined;

  constructor(
    private readonly socketPath: string,
    private readonly timeoutMs = 50_000,
  ) {}

  private connect(): Promise<TtrpcClient> {
    this.client ??= TtrpcClient.connect(this.socketPath);
    return this.client;
  }

  async unseal(sealed: Uint8Array): Promise<Uint8Array> {
    try {
      const out = await callRpc(
        await this.connect(),
        CdhRpc.unsealSecret,
        { secret: sealed },
        { timeoutMs: this.timeoutMs },
      );
      return out.plaintext;
    } catch (e) {
      // The daemon answers `[CDH] [ERROR]: Unseal Secret failed: REASON: detail`; keep its reason code.
      if (e instanceof TtrpcStatusError) {
        const m = /^\[CDH\] \[ERROR\]: [^:]+: ([A-Z_]+): ([\s\S]*)$/.exec(e.message);
        if (m) throw new CocosealError(m[1], m[2], { cause: e });
      }
      throw new CdhError('UNSEAL_FAILED', `CDH at ${this.socketPath}: ${(e as Error).message}`, { cause: e });
    }
  }

  async getResource(uri: string): Promise<Uint8Array> {
    const out = await callRpc(
      await this.connect(),
      CdhRpc.getResource,
      { resourcePath: uri },
      { timeoutMs: this.timeoutMs },
    );
    return out.resource;
  }

  async close(): Promise<void> {
    if (this.client) (await this.client.catch(() => undefined))?.close();
  }
}
