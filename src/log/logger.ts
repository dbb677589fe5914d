/** `json`: one JSON object per line, for log shippers; `pretty`: one readable line per event. */
export type LogFormat = "json" | "pretty";
export type LogLevel = "info" | "warn" | "error";
/** Context attached to an event: request_id, task_id and whatever else explains it. */
export type LogFields = Record<string, unknown>;

/** The one way the service reports what happened; every event is a single line. */
export interface Logger {
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every event. */
  with(fields: LogFields): Logger;
}

export interface LoggerOptions {
  format: LogFormat;
  /** Where a finished line goes; default stdout for info, stderr for the rest. */
  write?: (line: string, level: LogLevel) => void;
  now?: () => number;
}

/** Builds a logger that writes one line per event in the chosen format. */
export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? defaultWrite;
  const now = options.now ?? Date.now;
  const make = (base: LogFields): Logger => {
    const emit = (level: LogLevel, message: string, fields: LogFields = {}) => {
      const all = { ...base, ...fields };
      const time = new Date(now()).toISOString();
      write(
        options.format === "json"
          ? jsonLine(time, level, message, all)
          : prettyLine(time, level, message, all),
        level,
      );
    };
    return {
      info: (message, fields) => emit("info", message, fields),
      warn: (message, fields) => emit("warn", message, fields),
      error: (message, fields) => emit("error", message, fields),
      with: (fields) => make({ ...base, ...fields }),
    };
  };
  return make({});
}

function defaultWrite(line: string, level: LogLevel): void {
  if (level === "info") console.log(line);
  else console.error(line);
}

function plain(value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message, stack: value.stack ?? null };
  }
  return value;
}

function jsonLine(time: string, level: LogLevel, message: string, fields: LogFields): string {
  const record: Record<string, unknown> = { time, level, msg: message };
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && !(key in record)) record[key] = plain(value);
  }
  try {
    return JSON.stringify(record);
  } catch {
    // A field that cannot be serialised (a cycle, a BigInt) must not lose the event.
    return JSON.stringify({ time, level, msg: message, fields_error: "unserialisable fields" });
  }
}

function prettyLine(time: string, level: LogLevel, message: string, fields: LogFields): string {
  const parts = [time, level.toUpperCase().padEnd(5), oneLine(message)];
  let stack: string | null = null;
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    if (value instanceof Error) {
      parts.push(`${key}=${quoted(`${value.name}: ${value.message}`)}`);
      if (level === "error" && value.stack) stack = value.stack;
      continue;
    }
    parts.push(`${key}=${typeof value === "string" ? quoted(value) : safeJson(value)}`);
  }
  // The stack stays on the same line: one event, one line, whatever the format.
  return stack === null ? parts.join(" ") : `${parts.join(" ")} stack=${quoted(stack)}`;
}

function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, " ⏎ ");
}

function quoted(text: string): string {
  return /^[^\s"=\\\p{Cc}]+$/u.test(text) ? text : JSON.stringify(text);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
