/** ttRPC (containerd's RPC over unix sockets) server and client: cdh.md §3. */
export { type TtrpcCallOptions, TtrpcClient, type TtrpcClientOptions } from './client.js';
export {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  type TtrpcRequest,
  type TtrpcResponse,
  type TtrpcStatus,
} from './codec.js';
export { type StatusDetail, TtrpcError, type TtrpcErrorCode, TtrpcStatusError } from './errors.js';
export {
  decodeHeader,
  encodeFrame,
  FRAME_HEADER_LENGTH,
  type Frame,
  FrameFlag,
  type FrameHeader,
  FrameReader,
  MAX_MESSAGE_LENGTH,
  MessageType,
} from './frame.js';
export type { TtrpcCallContext, TtrpcHandler, TtrpcLogger, TtrpcLogLevel } from './handler.js';
export { TtrpcServer, type TtrpcServerOptions } from './server.js';
export { parseUnixAddress } from './socket.js';
export { GrpcCode, type GrpcCodeName, grpcCodeName } from './status.js';
