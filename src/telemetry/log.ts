// JSON-lines logger for stdout (journald-friendly), batched so a busy Worker makes one write per tick;
// or, for a program that runs aegis as a library, records handed to a sink (or to nobody).
import { writeSync } from "node:fs";
import type { LogFormat, LogLevel } from "../config/types.ts";

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };
/** Past this many unwritten bytes (stdout blocked), new lines are dropped rather than grow memory. */
const MAX_PENDING = 4 * 1024 * 1024;

export type Fields = Record<string, unknown>;
/** Takes each record instead of stdout: `{ time, level, msg, ...fields }`, the access log's included. */
export type LogSink = (record: Fields) => void;

export class Logger {
  #rank: number;
  #pending: string[] = [];
  #pendingBytes = 0;
  #scheduled = false;
  #context: Fields;
  #format: LogFormat;
  /** null: stdout. */
  readonly #sink: LogSink | null;
  /** Lines lost because stdout could not keep up. */
  dropped = 0;

  constructor(level: LogLevel, context: Fields = {}, format: LogFormat = "json", sink: LogSink | null = null) {
    this.#rank = RANK[level];
    this.#context = context;
    this.#format = format;
    this.#sink = sink;
  }

  /** A logger that writes nothing at any level (a library's default: a program's stdout is its own). */
  static silent(): Logger {
    return new Logger("error", {}, "json", SILENT);
  }

  /** False when every record would be thrown away: callers skip building records (the access log). */
  get writes(): boolean {
    return this.#sink !== SILENT;
  }

  setFormat(format: LogFormat): void {
    this.#format = format;
  }

  setLevel(level: LogLevel): void {
    this.#rank = RANK[level];
  }

  enabled(level: LogLevel): boolean {
    return this.#sink !== SILENT && RANK[level] <= this.#rank;
  }

  error(msg: string, fields?: Fields): void { this.log("error", msg, fields); }
  warn(msg: string, fields?: Fields): void { this.log("warn", msg, fields); }
  info(msg: string, fields?: Fields): void { this.log("info", msg, fields); }
  debug(msg: string, fields?: Fields): void { this.log("debug", msg, fields); }

  log(level: LogLevel, msg: string, fields?: Fields): void {
    if (RANK[level] > this.#rank || this.#sink === SILENT) return;
    this.entry({ time: new Date().toISOString(), level, msg, ...this.#context, ...fields });
  }

  /** One record, written as a JSON object or as `time level msg key=value ...` text. */
  entry(record: Fields): void {
    if (this.#sink !== null) return this.#sink(record);
    this.line(this.#format === "json" ? JSON.stringify(record) : toText(record));
  }

  /** Queue one already-formatted line; it reaches stdout within one event-loop turn. */
  line(text: string): void {
    if (this.#pendingBytes > MAX_PENDING) {
      this.dropped++;
      return;
    }
    this.#pending.push(text);
    this.#pendingBytes += text.length + 1;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setTimeout(() => this.flush(), 0);
    }
  }

  /** Write everything queued. Synchronous so it can run just before process.exit. */
  flush(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0) return;
    let text = this.#pending.join("\n") + "\n";
    this.#pending.length = 0;
    this.#pendingBytes = 0;
    for (let attempts = 0; text.length > 0 && attempts < 1000; attempts++) {
      try {
        const written = writeSync(1, text);
        text = text.slice(written);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EAGAIN") return;
        // stdout is a full non-blocking pipe: keep the rest for the next turn.
        this.#pending.push(text.slice(0, -1));
        this.#pendingBytes = text.length;
        if (!this.#scheduled) {
          this.#scheduled = true;
          setTimeout(() => this.flush(), 10);
        }
        return;
      }
    }
  }
}

const SILENT: LogSink = () => {};

/** `time level msg key=value`: values with spaces, quotes or `=` are JSON-quoted; objects are JSON. */
function toText(record: Fields): string {
  const { time, level, msg, ...rest } = record;
  const parts = [String(time ?? ""), String(level ?? "info"), String(msg ?? "")];
  for (const [key, value] of Object.entries(rest)) {
    if (value === undefined) continue;
    // Numbers, booleans and objects as compact JSON (no spaces); strings bare unless they need quotes.
    if (typeof value !== "string") parts.push(`${key}=${JSON.stringify(value)}`);
    else parts.push(`${key}=${/[\s"=]/.test(value) || value === "" ? JSON.stringify(value) : value}`);
  }
  return parts.join(" ");
}
