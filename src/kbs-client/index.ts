/*
 * Public surface of the KBS client: the guest side (attestation, resource GETs, the cc_kbc
 * ResourceGetter) and the admin side (resources, policies, reference values, audit).
 */

export {
  type AttestationPolicyOptions,
  type AuditListOptions,
  KbsAdminClient,
  type KbsAdminClientOptions,
  type PolicyCheckRequest,
  type SampleReferenceValueOptions,
  sampleReferenceValueMessage,
} from './admin.js';
export { type MintAdminTokenOptions, mintAdminToken, parseTtl } from './admin-token.js';
export { registerCcKbcClient } from './cc-kbc.js';
export { KbsClient, type KbsClientOptions, type ResourceAuth, type ResourceRequest } from './client.js';
export { KbsClientError, type KbsClientErrorCode } from './errors.js';
export type {
  AttestationEvent,
  KbsClientObserver,
  KbsClientStats,
  ResourceRequestEvent,
} from './observer.js';
export { NAMED_RESOURCE_POLICIES, type NamedResourcePolicy } from './policies.js';
export { type Attestation, PROTOCOL_VERSION, RcarClient } from './rcar.js';
export { KbsResourceGetter, toKmsError } from './resource-getter.js';
export { TEE_KEY_ALGORITHMS, type TeeKeyAlgorithm, TeeKeyPair } from './tee-key.js';
export { AttestationToken, decodeTokenClaims, type TokenClaims } from './token.js';
export {
  type AcquiredGrant,
  CachingTokenSource,
  grantFromAaToken,
  StaticTokenSource,
  type TokenGrant,
  type TokenSource,
} from './token-source.js';
