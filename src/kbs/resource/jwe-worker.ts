import { parentPort } from 'node:worker_threads';
import { encryptResourceResponse, type PreparedTeeKey, prepareTeeKey } from '../../crypto/jwe.js';

/*
 * JWE worker thread: builds resource responses off the event loop. A message carries a batch of jobs
 * (every job the event loop queued for this worker in one turn): their ids, the (already validated)
 * TEE JWKs as JSON, and all plaintexts in one transferred buffer. Prepared keys are cached by their
 * JSON so an RSA key is imported once per token, not per request. The reply is one message per batch:
 * for each job the serialized body, or an error message when its index is listed in `failed`.
 */

export interface JweBatch {
  ids: number[];
  jwks: string[];
  /** Job i's plaintext is `data[offsets[i], offsets[i + 1])`. Zeroed once encrypted. */
  offsets: number[];
  data: Uint8Array;
}

export interface JweBatchResult {
  ids: number[];
  /** The serialized JWE, or for the indexes in `failed` an error message. */
  bodies: string[];
  failed: number[];
}

const keys = new Map<string, PreparedTeeKey>();

function keyFor(jwk: string): PreparedTeeKey {
  let key = keys.get(jwk);
  if (!key) {
    key = prepareTeeKey(JSON.parse(jwk));
    if (keys.size >= 1024) keys.delete(keys.keys().next().value as string);
    keys.set(jwk, key);
  }
  return key;
}

parentPort?.on('message', (batch: JweBatch) => {
  const { ids, jwks, offsets, data } = batch;
  const bodies: string[] = new Array(ids.length);
  const failed: number[] = [];
  try {
    for (let i = 0; i < ids.length; i++) {
      try {
        const pt = data.subarray(offsets[i], offsets[i + 1]);
        bodies[i] = JSON.stringify(encryptResourceResponse(keyFor(jwks[i]), pt));
      } catch (e) {
        bodies[i] = (e as Error).message;
        failed.push(i);
      }
    }
  } finally {
    data.fill(0);
  }
  const reply: JweBatchResult = { ids, bodies, failed };
  parentPort!.postMessage(reply);
});
