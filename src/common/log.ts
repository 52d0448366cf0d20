/*
 * Structured JSON logs, one object per line. Callers pass only metadata: method, path, status,
 * duration, a session-id prefix, error codes. Never a secret value, a token, a key or a request body.
 * Lines are buffered and flushed once per event-loop turn, so a busy server makes one write per batch.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'off';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, off: 100 };

export interface Logger {
  level: LogLevel;
  log(level: Exclude<LogLevel, 'off'>, msg: string, fields?: Record<string, unknown>): void;
  flush(): void;
}

export function createLogger(
  level: LogLevel = 'info',
  sink: (text: string) => void = (t) => process.stderr.write(t),
): Logger {
  let buf: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (buf.length === 0) return;
    const text = buf.join('');
    buf = [];
    sink(text);
  };
  return {
    level,
    log(l, msg, fields) {
      if (RANK[l] < RANK[this.level]) return;
      buf.push(`${JSON.stringify({ time: new Date().toISOString(), level: l, msg, ...fields })}\n`);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    flush,
  };
}

export function parseLogLevel(s: string | undefined): LogLevel {
  return s && s in RANK ? (s as LogLevel) : 'info';
}
