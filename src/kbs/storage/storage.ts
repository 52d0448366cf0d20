/**
 * The KBS's only view of persistence: a namespaced key-value store.
 *
 * Namespaces used by the broker: `resource` (key `repo/type/tag`), `policy`, `session`,
 * `reference-value`, `signer-key`, `audit`. Values are opaque bytes. Implementations must make every
 * acknowledged `set` durable and atomic (a crash never leaves a half-written value).
 */
export interface Storage {
  /** Stores `value`. With `overwrite: false`, fails with StorageError `ALREADY_EXISTS` if the key exists. */
  set(namespace: string, key: string, value: Uint8Array, opts?: { overwrite?: boolean }): Promise<void>;
  /** The stored bytes, or `undefined` when absent. */
  get(namespace: string, key: string): Promise<Uint8Array | undefined>;
  /** True when something was deleted. */
  delete(namespace: string, key: string): Promise<boolean>;
  /** Keys of a namespace, optionally only those starting with `prefix`, in ascending order. */
  list(namespace: string, prefix?: string): Promise<string[]>;
  close(): Promise<void>;
}
