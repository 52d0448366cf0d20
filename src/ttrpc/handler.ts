/** What a server handler sees besides the request bytes. */
export interface TtrpcCallContext {
  service: string;
  method: string;
  /** Request metadata; a key sent several times keeps every value, in wire order. */
  metadata: Map<string, string[]>;
  /** Epoch milliseconds after which the server answers DEADLINE_EXCEEDED (from `timeout_nano`). */
  deadline?: number;
  /** Aborted on deadline expiry, when the client disconnects, or when the server closes. */
  signal: AbortSignal;
}

/**
 * Serves one unary method: serialized input in, serialized output out. Throw a TtrpcStatusError to
 * answer a specific status; anything else is answered as INTERNAL with a generic message (the error
 * itself goes to the server's log hook only, since it might describe secret material).
 */
export type TtrpcHandler = (request: Uint8Array, ctx: TtrpcCallContext) => Promise<Uint8Array>;

export type TtrpcLogLevel = 'debug' | 'info' | 'warn' | 'error';
/** Log hook. Messages never contain payload bytes; `error` is the raw cause (log it with care). */
export type TtrpcLogger = (level: TtrpcLogLevel, message: string, error?: unknown) => void;
