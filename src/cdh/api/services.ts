import { GetTokenRequest, GetTokenResponse } from './attestation-agent.js';
import { KeyProviderKeyWrapProtocolInput, KeyProviderKeyWrapProtocolOutput } from './keyprovider.js';
import type { MessageCodec } from './message-codec.js';
import {
  GetResourceRequest,
  GetResourceResponse,
  ImagePullRequest,
  ImagePullResponse,
  SecureMountRequest,
  SecureMountResponse,
  UnsealSecretInput,
  UnsealSecretOutput,
} from './messages.js';

/*
 * ttRPC service strings are `<proto package>.<service>`, methods the bare rpc names (cdh.md §2.1).
 * They are wire values.
 */

export const SEALED_SECRET_SERVICE = 'api.SealedSecretService';
export const GET_RESOURCE_SERVICE = 'api.GetResourceService';
export const SECURE_MOUNT_SERVICE = 'api.SecureMountService';
export const IMAGE_PULL_SERVICE = 'api.ImagePullService';
export const KEY_PROVIDER_SERVICE = 'keyprovider.KeyProviderService';
export const ATTESTATION_AGENT_SERVICE = 'attestation_agent.AttestationAgentService';

/** One unary method: where it lives and how its messages are coded. */
export interface RpcMethod<I, O> {
  readonly service: string;
  readonly method: string;
  readonly input: MessageCodec<I>;
  readonly output: MessageCodec<O>;
}

function rpc<I, O>(service: string, method: string, input: MessageCodec<I>, output: MessageCodec<O>) {
  return Object.freeze({ service, method, input, output }) as RpcMethod<I, O>;
}

/** Every method the CDH serves. */
export const CdhRpc = Object.freeze({
  unsealSecret: rpc(SEALED_SECRET_SERVICE, 'UnsealSecret', UnsealSecretInput, UnsealSecretOutput),
  getResource: rpc(GET_RESOURCE_SERVICE, 'GetResource', GetResourceRequest, GetResourceResponse),
  secureMount: rpc(SECURE_MOUNT_SERVICE, 'SecureMount', SecureMountRequest, SecureMountResponse),
  pullImage: rpc(IMAGE_PULL_SERVICE, 'PullImage', ImagePullRequest, ImagePullResponse),
  unwrapKey: rpc(
    KEY_PROVIDER_SERVICE,
    'UnWrapKey',
    KeyProviderKeyWrapProtocolInput,
    KeyProviderKeyWrapProtocolOutput,
  ),
  /** Not implemented upstream: answer NOT_FOUND with WRAP_KEY_NOT_SUPPORTED. */
  wrapKey: rpc(
    KEY_PROVIDER_SERVICE,
    'WrapKey',
    KeyProviderKeyWrapProtocolInput,
    KeyProviderKeyWrapProtocolOutput,
  ),
});

/** The Attestation Agent method the CDH calls. */
export const AttestationAgentRpc = Object.freeze({
  getToken: rpc(ATTESTATION_AGENT_SERVICE, 'GetToken', GetTokenRequest, GetTokenResponse),
});

/** Status texts upstream CDH answers (cdh.md §2.3); every failure is INTERNAL (13) with the prefix. */
export const CDH_ERROR_PREFIX = '[CDH] [ERROR]: ';
export const CdhFailure = Object.freeze({
  unsealSecret: 'Unseal Secret failed',
  kbsClientInit: 'kbs client initialization failed',
  getResource: 'Get Resource failed',
  secureMount: 'Secure Mount failed',
  unwrapKey: 'Decrypt Image (UnwrapKey) failed',
  imagePull: 'Image Pull error',
});
/** UnWrapKey request JSON that does not parse (no CDH prefix upstream). */
export const UNWRAP_KEY_PARSE_FAILED = '[ERROR] UnwrapKey Parse request failed';
/** Answered with NOT_FOUND (5) for `WrapKey`. */
export const WRAP_KEY_NOT_SUPPORTED = '/keyprovider.KeyProviderService/WrapKey is not supported';
