import type { TtrpcCallOptions, TtrpcClient } from '../../ttrpc/client.js';
import type { TtrpcCallContext, TtrpcHandler } from '../../ttrpc/handler.js';
import type { TtrpcServer } from '../../ttrpc/server.js';
import type { RpcMethod } from './services.js';

/**
 * Typed handler for one method: the input is decoded (an undecodable input answers UNKNOWN
 * `ttrpc err: …`, as upstream does) and the output encoded.
 */
export function typedHandler<I, O>(
  rpc: RpcMethod<I, O>,
  fn: (input: I, ctx: TtrpcCallContext) => Promise<O>,
): TtrpcHandler {
  return async (request, ctx) => rpc.output.encode(await fn(rpc.input.decode(request), ctx));
}

export function registerRpc<I, O>(
  server: TtrpcServer,
  rpc: RpcMethod<I, O>,
  fn: (input: I, ctx: TtrpcCallContext) => Promise<O>,
): void {
  server.register(rpc.service, rpc.method, typedHandler(rpc, fn));
}

/** Typed client call. */
export async function callRpc<I, O>(
  client: TtrpcClient,
  rpc: RpcMethod<I, O>,
  input: I,
  options?: TtrpcCallOptions,
): Promise<O> {
  return rpc.output.decode(await client.call(rpc.service, rpc.method, rpc.input.encode(input), options));
}
