/**
 * Structured logs on stderr, so stdout stays free for a command's own output: one JSON object per line, or on a
 * terminal one readable line (`12:04:05 INFO msg key=value`). `format` chooses; unset, PROFS_LOG_FORMAT (set by
 * `profs --log-format`) does, else a terminal gets text and anything else JSON. A logger is a value passed to
 * whoever needs it (no global logger); `child` adds fields such as a request id.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFormat = "json" | "text";

export function createLogger(
  options: { level?: LogLevel; fields?: LogFields; write?: (line: string) => void; format?: LogFormat } = {},
): Logger {
  const min = ORDER[options.level ?? "info"];
  const base = options.fields ?? {};
  const write = options.write ?? ((line: string) => console.error(line));
  // A caller's own `write` (tests, collectors) reads JSON unless it asks otherwise.
  const format = options.format ?? (options.write ? "json" : defaultLogFormat());
  const emit = (level: LogLevel) => (msg: string, fields: LogFields = {}) => {
    if (ORDER[level] < min) return;
    const time = new Date().toISOString();
    write(
      format === "text"
        ? textLine(time, level, msg, { ...base, ...fields })
        : JSON.stringify({ time, level, msg, ...base, ...fields }, errorReplacer),
    );
  };
  return {
    debug: emit("debug"),
    info: emit("info"),
    warn: emit("warn"),
    error: emit("error"),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}

export function defaultLogFormat(): LogFormat {
  const named = Deno.env.get("PROFS_LOG_FORMAT");
  if (named === "json" || named === "text") return named;
  return Deno.stderr.isTerminal() ? "text" : "json";
}

function textLine(time: string, level: LogLevel, msg: string, fields: LogFields): string {
  const parts = Object.entries(fields).map(([k, v]) => {
    const text = typeof v === "string" ? v : JSON.stringify(v, errorReplacer);
    return `${k}=${typeof v === "string" && /\s/.test(v) ? JSON.stringify(v) : text}`;
  });
  return [time.slice(11, 19), level.toUpperCase().padEnd(5), msg, ...parts].join(" ");
}

/** A logger that drops everything (tests, library calls without a logger). */
export const silentLogger: Logger = createLogger({ write: () => {} });

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  if (typeof value === "bigint") return value.toString();
  return value;
}
