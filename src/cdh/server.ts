import { decodeStd } from '../crypto/base64.js';
import { TtrpcStatusError } from '../ttrpc/errors.js';
import { TtrpcServer } from '../ttrpc/server.js';
import { GrpcCode } from '../ttrpc/status.js';
import { registerRpc } from './api/rpc.js';
import {
  CDH_ERROR_PREFIX,
  CdhFailure,
  CdhRpc,
  KEY_PROVIDER_SERVICE,
  UNWRAP_KEY_PARSE_FAILED,
  WRAP_KEY_NOT_SUPPORTED,
} from './api/services.js';
import type { ConfidentialDataHub } from './hub.js';
import { describeReason, reasonOf } from './reason.js';

/*
 * The CDH ttRPC services (cdh.md §2): what kata-agent calls. Failures answer INTERNAL (13) with
 * upstream's `[CDH] [ERROR]: <top-level message>` followed by `: <REASON>: <detail>`.
 */

export interface CdhServerLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

function failure(top: string, e: unknown, log: CdhServerLog, method: string): TtrpcStatusError {
  log.warn(`${method} failed`, { reason: reasonOf(e), detail: describeReason(e) });
  return new TtrpcStatusError(GrpcCode.INTERNAL, `${CDH_ERROR_PREFIX}${top}: ${describeReason(e)}`, {
    cause: e,
  });
}

export function registerCdhServices(server: TtrpcServer, hub: ConfidentialDataHub, log: CdhServerLog): void {
  registerRpc(server, CdhRpc.unsealSecret, async ({ secret }) => {
    try {
      return { plaintext: await hub.unseal(secret) };
    } catch (e) {
      throw failure(CdhFailure.unsealSecret, e, log, 'UnsealSecret');
    }
  });
  registerRpc(server, CdhRpc.getResource, async ({ resourcePath }) => {
    try {
      return { resource: await hub.getResource(resourcePath) };
    } catch (e) {
      throw failure(CdhFailure.getResource, e, log, 'GetResource');
    }
  });
  registerRpc(server, CdhRpc.unwrapKey, async ({ keyProviderKeyWrapProtocolInput }) => {
    let annotation: Uint8Array;
    try {
      const req = JSON.parse(Buffer.from(keyProviderKeyWrapProtocolInput).toString('utf8'));
      if (
        !req ||
        typeof req !== 'object' ||
        !('op' in req) ||
        !('keywrapparams' in req) ||
        !('keyunwrapparams' in req)
      )
        throw new Error();
      annotation = decodeStd(req.keyunwrapparams?.annotation, 'annotation');
    } catch {
      throw new TtrpcStatusError(GrpcCode.INTERNAL, UNWRAP_KEY_PARSE_FAILED);
    }
    try {
      const key = await hub.unwrapKey(annotation);
      const out = JSON.stringify({ keyunwrapresults: { optsdata: [...key] } });
      return { keyProviderKeyWrapProtocolOutput: Buffer.from(out) };
    } catch (e) {
      throw failure(CdhFailure.unwrapKey, e, log, 'UnWrapKey');
    }
  });
  server.register(KEY_PROVIDER_SERVICE, 'WrapKey', async () => {
    throw new TtrpcStatusError(GrpcCode.NOT_FOUND, WRAP_KEY_NOT_SUPPORTED);
  });
  registerRpc(server, CdhRpc.secureMount, async () => {
    throw new TtrpcStatusError(
      GrpcCode.INTERNAL,
      `${CDH_ERROR_PREFIX}${CdhFailure.secureMount}: NOT_SUPPORTED: secure mounts are not supported by cocoseal`,
    );
  });
  registerRpc(server, CdhRpc.pullImage, async () => {
    throw new TtrpcStatusError(
      GrpcCode.INTERNAL,
      `${CDH_ERROR_PREFIX}${CdhFailure.imagePull}: NOT_SUPPORTED: image pull is not supported by cocoseal`,
    );
  });
}

export async function startCdhServer(
  socketPath: string,
  hub: ConfidentialDataHub,
  log: CdhServerLog,
): Promise<TtrpcServer> {
  const server = new TtrpcServer({
    log: (level, message) => (level === 'error' || level === 'warn' ? log.warn(message) : undefined),
  });
  registerCdhServices(server, hub, log);
  await server.listen(socketPath);
  return server;
}
