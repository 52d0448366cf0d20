/**
 * Namespace names, identical to upstream Trustee (kbs-protocol.md §10) so that a Trustee LocalFs
 * directory imports one-to-one and our LocalFs backend reads it in place.
 */
export const NS = {
  /** Resources, key `<repo>/<type>/<tag>`. */
  resource: 'repository',
  /** Resource policy (upstream namespace `kbs`). */
  resourcePolicy: 'kbs',
  /** Attestation policies, key `<id>.rego`. */
  attestationPolicy: 'attestation_service_policy',
  /** RVPS reference values, key `<name>`. */
  referenceValue: 'reference_value',
  /** RCAR sessions when kept in the key-value store (the SessionStore is preferred). */
  session: 'kbs_protocol_session',
  /** The token signer key generated at first start (ours; not an upstream namespace). */
  signerKey: 'signer_key',
  intelDcapCollateral: 'intel-dcap-collateral',
  provisioner: 'provisioner',
} as const;

export type KnownNamespace = (typeof NS)[keyof typeof NS];
