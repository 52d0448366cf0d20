/** CDH ttRPC API: message codecs, service names and typed call/handler helpers (cdh.md §2). */
export { GetTokenRequest, GetTokenResponse } from './attestation-agent.js';
export { KeyProviderKeyWrapProtocolInput, KeyProviderKeyWrapProtocolOutput } from './keyprovider.js';
export type { MessageCodec } from './message-codec.js';
export {
  GetResourceRequest,
  GetResourceResponse,
  ImagePullRequest,
  ImagePullResponse,
  SecureMountRequest,
  SecureMountResponse,
  UnsealSecretInput,
  UnsealSecretOutput,
} from './messages.js';
export { callRpc, registerRpc, typedHandler } from './rpc.js';
export {
  ATTESTATION_AGENT_SERVICE,
  AttestationAgentRpc,
  CDH_ERROR_PREFIX,
  CdhFailure,
  CdhRpc,
  GET_RESOURCE_SERVICE,
  IMAGE_PULL_SERVICE,
  KEY_PROVIDER_SERVICE,
  type RpcMethod,
  SEALED_SECRET_SERVICE,
  SECURE_MOUNT_SERVICE,
  UNWRAP_KEY_PARSE_FAILED,
  WRAP_KEY_NOT_SUPPORTED,
} from './services.js';
