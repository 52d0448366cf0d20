/**
 * Base of every error cocoseal throws on purpose.
 *
 * Each component has its own subclass with a closed union of stable `code`s (see `codes.ts`).
 * Codes are public interface: the CLI prints them, the KBS puts them in error bodies, the CDH puts
 * them in ttRPC status messages. Messages must never contain secret bytes, keys or tokens.
 */
export class CocosealError<C extends string = string> extends Error {
  readonly code: C;

  constructor(code: C, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }

  /** One line for users: `CODE: message`. */
  toLine(): string {
    return `${this.code}: ${this.message}`;
  }
}

export function isCocosealError(e: unknown): e is CocosealError {
  return e instanceof CocosealError;
}

/** Renders any thrown value as a single safe line (never a stack trace). */
export function describeError(e: unknown): string {
  if (e instanceof CocosealError) return e.toLine();
  if (e instanceof Error) return `INTERNAL: ${e.message}`;
  return `INTERNAL: ${String(e)}`;
}
