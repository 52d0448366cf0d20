/**
 * Fetches the bytes of a KBS resource named by a resource URI (`kbs:///repo/type/tag`).
 *
 * Implementations: the KBS over HTTP after attestation (`src/kbs-client/`), the offline-fs files
 * (`offline-fs.ts`), and the CDH socket (`src/cdh/`). Failures are `KmsError`s with code
 * `RESOURCE_NOT_FOUND`, `KBS_UNREACHABLE`, `ATTESTATION_FAILED`, `POLICY_DENIED` or `KMS_FAILED`.
 */
export interface ResourceGetter {
  get(uri: string): Promise<Uint8Array>;
}
