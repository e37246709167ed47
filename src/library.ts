// aegis as a library (`import { startProxy } from "aegis"`): a config object in, a running proxy's
// handle out, on the CLI's own start path (main-thread.ts) but without signals, exit or stdout.
import { ConfigError } from "./config/errors.ts";
import type { ConfigInput } from "./config/input.ts";
import { parseConfigObject } from "./config/object.ts";
import type { MetricsJson } from "./admin/server.ts";
import { metricsJson, prometheusText } from "./admin/server.ts";
import type { ServerChange } from "./health/monitor.ts";
import type { ReloadResult } from "./control/supervisor.ts";
import { createMainThread, type MainThread } from "./main-thread.ts";
import { Logger, type Fields } from "./telemetry/log.ts";
import type { SessionRecord } from "./telemetry/session-record.ts";

export { ConfigError };
export type { ConfigInput, Duration, GlobalInput, MetricsInput, AdminInput, ListenerInput, UpstreamInput } from "./config/input.ts";
export type { SessionRecord, ServerChange, MetricsJson };

/** One log record: `time` (ISO 8601), `level`, `msg`, then the fields of that line (the access log's too). */
export type LogRecord = Fields & { time: string; level: "error" | "warn" | "info" | "debug"; msg: string };

export interface ProxyOptions {
  /**
   * Where log lines go (at the config's log_level, access log included when access_log is on):
   * nowhere by default, "stdout" for the CLI's JSON (or text) lines, or a function given each record.
   */
  log?: "stdout" | ((record: LogRecord) => void);
  /**
   * The Worker entry: by default src/worker.ts beside this module, wherever the package is installed.
   * A program compiled with `bun build --compile` (with node_modules/aegis/src/worker.ts as an extra
   * entrypoint) gives where the binary holds it, e.g. `new URL("./node_modules/aegis/src/worker.ts", import.meta.url)`.
   */
  worker?: string | URL;
}

/** A listener and the address it is bound to: `port` is the one the kernel chose for port 0. */
export interface BoundListener {
  name: string;
  /** host:port, IPv6 in brackets. */
  address: string;
  host: string;
  port: number;
}

/** What a reload did: one line per changed setting, listener, upstream or server. */
export interface ReloadOutcome {
  changes: string[];
}

/** The outcome of every reload, as `on("reload")` reports it (a failed one left the running config in place). */
export type ReloadEvent = { ok: true; changes: string[] } | { ok: false; error: string };

export interface ProxyEvents {
  /** A session ended (or a connection was refused at accept: end = "rejected"). */
  session: SessionRecord;
  /** A reload ended, taken or not. */
  reload: ReloadEvent;
  /** A server changed state (up, down, ejected, draining, disabled) or weight. */
  server: ServerChange;
}

/** A reload that was refused or failed: the running configuration stays. A bad config object throws ConfigError instead. */
export class ReloadError extends Error {
  override readonly name = "ReloadError";
}

export interface Proxy {
  /** Every listener of the running config, with its bound port (after a reload too). */
  readonly listeners: readonly BoundListener[];
  /** host:port of /metrics, the status page and the admin API; null when [metrics] is off. */
  readonly metricsAddress: string | null;
  readonly workers: number;
  /**
   * Swap to `config` without dropping a session, in two phases as on SIGHUP. Resolves with the
   * changes; rejects with ConfigError (every problem, with key paths) or ReloadError, and then the
   * running configuration stays.
   */
  reload(config: ConfigInput): Promise<ReloadOutcome>;
  /**
   * Graceful stop, as on SIGTERM: no new connection, sessions run on for shutdown_grace, then are
   * closed. Resolves once every Worker is gone. `{ now: true }` ends every session at once
   * (resets where bytes were unsent), also during a graceful stop.
   */
  stop(options?: { now?: boolean }): Promise<void>;
  /** What /metrics answers (Prometheus text), or with "json" what /metrics.json answers. */
  metrics(): string;
  metrics(format: "json"): MetricsJson;
  /** Call `listener` for each event; returns the function that removes it. */
  on<E extends keyof ProxyEvents>(event: E, listener: (event: ProxyEvents[E]) => void): () => void;
  off<E extends keyof ProxyEvents>(event: E, listener: (event: ProxyEvents[E]) => void): void;
  /** `await using proxy = await startProxy(...)` stops it gracefully at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** The Worker entry, beside this module wherever it is installed (src/ of the package). */
const WORKER = new URL("./worker.ts", import.meta.url).href;

/**
 * Start a proxy with `config` (the keys of aegis.toml as an object). Resolves once every listener
 * accepts in every Worker; rejects with ConfigError for a bad config, or with the start's error
 * (a port in use, a certificate that cannot be read). Several proxies may run in one process.
 */
export async function startProxy(config: ConfigInput, options: ProxyOptions = {}): Promise<Proxy> {
  const parsed = parseConfigObject(config);
  const worker = options.worker === undefined ? WORKER : String(options.worker);
  const listeners = new Listeners();
  const sink = options.log === undefined || options.log === "stdout" ? null : guarded(options.log);
  const logger = options.log === undefined ? Logger.silent()
    : new Logger(parsed.global.logLevel, {}, parsed.global.logFormat, sink && ((record) => sink(record as LogRecord)));
  const main = createMainThread(parsed, {
    logger,
    spawnWorker: () => new Worker(worker),
    service: false,
    workerLog: options.log === undefined ? "off" : options.log === "stdout" ? "stdout" : "main",
    ...(sink ? { onWorkerLog: (records: Fields[]) => records.forEach((r) => sink(r as LogRecord)) } : {}),
    onSessions: (records) => records.forEach((r) => listeners.emit("session", r)),
    onReload: (result) => listeners.emit("reload", result),
  });
  main.supervisor.health.onChange((change) => listeners.emit("server", change));
  const ready = await main.start();
  return handle(main, ready.metrics, listeners);
}

function handle(main: MainThread, metricsAddress: string | null, listeners: Listeners): Proxy {
  const { supervisor } = main;
  listeners.onSessionListeners = (any) => supervisor.sessionEvents(any);
  const stop = async (options?: { now?: boolean }) => {
    const graceful = main.stop();
    if (options?.now) await main.closeNow();
    await graceful;
  };
  const proxy: Proxy = {
    get listeners() {
      return supervisor.listening();
    },
    metricsAddress,
    workers: supervisor.config.global.workers,
    async reload(input) {
      let invalid: ConfigError | null = null;
      const read = () => {
        try {
          return parseConfigObject(input);
        } catch (e) {
          if (e instanceof ConfigError) invalid = e;
          throw e;
        }
      };
      const result: ReloadResult = await main.reload("reload()", read);
      if (result.ok) return { changes: result.changes };
      throw invalid ?? new ReloadError(result.error);
    },
    stop,
    metrics: ((format?: "json") => (format === "json" ? metricsJson(supervisor, main.changes) : prometheusText(supervisor))) as Proxy["metrics"],
    on(event, listener) {
      listeners.add(event, listener);
      return () => listeners.remove(event, listener);
    },
    off(event, listener) {
      listeners.remove(event, listener);
    },
    [Symbol.asyncDispose]: () => stop(),
  };
  return proxy;
}

/** The event listeners; the Workers post sessions only while there is a session listener. */
class Listeners {
  readonly #sets: { [E in keyof ProxyEvents]: Set<(event: ProxyEvents[E]) => void> } = { session: new Set(), reload: new Set(), server: new Set() };
  onSessionListeners: (any: boolean) => void = () => {};

  add<E extends keyof ProxyEvents>(event: E, listener: (event: ProxyEvents[E]) => void): void {
    const set = this.#set(event);
    set.add(listener);
    if (event === "session" && set.size === 1) this.onSessionListeners(true);
  }

  remove<E extends keyof ProxyEvents>(event: E, listener: (event: ProxyEvents[E]) => void): void {
    const set = this.#set(event);
    if (set.delete(listener) && event === "session" && set.size === 0) this.onSessionListeners(false);
  }

  emit<E extends keyof ProxyEvents>(event: E, value: ProxyEvents[E]): void {
    for (const listener of this.#set(event)) {
      try {
        listener(value);
      } catch (err) {
        rethrowLater(err);
      }
    }
  }

  #set<E extends keyof ProxyEvents>(event: E): Set<(event: ProxyEvents[E]) => void> {
    const set = this.#sets[event] as Set<(event: ProxyEvents[E]) => void> | undefined;
    if (!set) throw new TypeError(`no such event ${JSON.stringify(event)}: use ${Object.keys(this.#sets).map((e) => JSON.stringify(e)).join(", ")}`);
    return set;
  }
}

/** The program's logger function, kept from breaking aegis's own work when it throws. */
function guarded(log: (record: LogRecord) => void): (record: LogRecord) => void {
  return (record) => {
    try {
      log(record);
    } catch (err) {
      rethrowLater(err);
    }
  };
}

/** A program's function that threw is the program's error: raised as uncaught, after aegis's bookkeeping is done. */
function rethrowLater(err: unknown): void {
  queueMicrotask(() => {
    throw err;
  });
}
