/**
 * The KBS's only view of persistence: a namespaced key-value store (kbs-protocol.md §10).
 *
 * Namespaces: see `NS` in `namespaces.ts` (upstream names: `repository` for resources with key
 * `repo/type/tag`, `kbs` for the resource policy, `attestation_service_policy`, `reference_value`, …).
 * Namespaces and keys follow the grammar in `keys.ts`; anything else is StorageError `INVALID_KEY`.
 * Values are opaque bytes. Implementations make every acknowledged `set` durable and atomic (a crash
 * never leaves a half-written value) and never cache mutable data in the process, so several KBS
 * replicas sharing one database always read the latest committed value.
 */
export interface Storage {
  /** Stores `value`. With `overwrite: false`, fails with StorageError `ALREADY_EXISTS` if the key exists. */
  set(namespace: string, key: string, value: Uint8Array, opts?: { overwrite?: boolean }): Promise<void>;
  /** The stored bytes, or `undefined` when absent. */
  get(namespace: string, key: string): Promise<Uint8Array | undefined>;
  /** True when something was deleted. */
  delete(namespace: string, key: string): Promise<boolean>;
  /** Keys of a namespace, optionally only those starting with `prefix`, in ascending (byte) order. */
  list(namespace: string, prefix?: string): Promise<string[]>;
  close(): Promise<void>;
}
