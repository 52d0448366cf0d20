import type { KbsClientError } from './errors.js';

/*
 * Metrics and events hook. Callers (CDH metrics, tests asserting "at most one attestation for N
 * fetches") either read `KbsClient.stats` or pass an observer. Events carry no tokens, keys or
 * resource bytes.
 */

export interface KbsClientStats {
  /** Completed RCAR handshakes that produced a token. */
  attestations: number;
  /** RCAR handshake attempts that failed (each retry counts). */
  attestationFailures: number;
  /** Token grants obtained from a non-attesting source (e.g. an AA `GetToken`). */
  tokenGrants: number;
  /** Resource GETs sent to the KBS (each retry counts). */
  resourceRequests: number;
  /** GETs that reused a held token instead of attesting. */
  tokenReuses: number;
  /** 401 answers that led to a fresh token and a retry. */
  reattestations: number;
}

export interface AttestationEvent {
  ok: boolean;
  /** 1-based handshake attempt. */
  attempt: number;
  durationMs: number;
  error?: KbsClientError;
}

export interface ResourceRequestEvent {
  plugin: string;
  /** HTTP status, or 0 when the KBS could not be reached. */
  status: number;
  /** 1-based GET attempt within one fetch. */
  attempt: number;
  /** The token was obtained for this fetch (not reused). */
  freshToken: boolean;
}

export interface KbsClientObserver {
  onAttestation?(event: AttestationEvent): void;
  onResourceRequest?(event: ResourceRequestEvent): void;
}

export function emptyStats(): KbsClientStats {
  return {
    attestations: 0,
    attestationFailures: 0,
    tokenGrants: 0,
    resourceRequests: 0,
    tokenReuses: 0,
    reattestations: 0,
  };
}

/** Calls an observer method, never letting an observer bug break a fetch. */
export function notify<K extends keyof KbsClientObserver>(
  observer: KbsClientObserver | undefined,
  method: K,
  event: Parameters<NonNullable<KbsClientObserver[K]>>[0],
): void {
  try {
    (observer?.[method] as ((e: typeof event) => void) | undefined)?.call(observer, event);
  } catch {
    // Observers are diagnostics; their failures are not the fetch's.
  }
}
