import { parentPort } from 'node:worker_threads';
import { encryptResourceResponse, type PreparedTeeKey, prepareTeeKey } from '../../crypto/jwe.js';

/*
 * JWE worker thread: builds resource responses off the event loop. Messages carry the (already
 * validated) TEE JWK and the plaintext; prepared keys are cached by their JSON so an RSA key is imported
 * once per token, not per request. The reply is the serialized body or an error message.
 */

export interface JweJob {
  id: number;
  jwk: string;
  plaintext: Uint8Array;
}

export type JweResult = { id: number; body: string } | { id: number; error: string };

const keys = new Map<string, PreparedTeeKey>();

parentPort?.on('message', (job: JweJob) => {
  let reply: JweResult;
  try {
    let key = keys.get(job.jwk);
    if (!key) {
      key = prepareTeeKey(JSON.parse(job.jwk));
      if (keys.size >= 1024) keys.delete(keys.keys().next().value as string);
      keys.set(job.jwk, key);
    }
    reply = { id: job.id, body: JSON.stringify(encryptResourceResponse(key, job.plaintext)) };
  } catch (e) {
    reply = { id: job.id, error: (e as Error).message };
  } finally {
    job.plaintext.fill(0);
  }
  parentPort!.postMessage(reply);
});
