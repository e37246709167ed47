// A real DataPlane inside the test process, real backends and clients that record their socket events.
// All knowledge of how a plane is built (config, counter slots, shared memory) lives in this file only.
import type { SessionRecord } from "../../src/telemetry/session-record.ts";
import type { Socket, TCPSocketListener } from "bun";
import { parseConfig } from "../../src/config/load.ts";
import { SlotRegistry } from "../../src/control/slots.ts";
import { setThreadWorker } from "../../src/admission/shared-region.ts";
import type { DataPlane } from "../../src/data/plane.ts";
import { admissionCell } from "../../src/shared/connections.ts";
import { CounterLayout, L } from "../../src/shared/layout.ts";
import { Logger } from "../../src/telemetry/log.ts";
import { routesFor } from "../../src/route/routes-for.ts";
import { buildPlane } from "../../src/worker.ts";

// ---- the plane ------------------------------------------------------------------------------

export interface PlaneSetup {
  /** TOML lines added to [global], [[listener]] and [[upstream]] (e.g. `idle_timeout = "300ms"`). */
  global?: string;
  listener?: string;
  upstream?: string;
  /** TOML of further [[upstream]] tables, for listeners with routes. */
  upstreams?: string;
  /** How the listener's route table is built (default: the Worker's own, from the config). */
  routes?: typeof routesFor;
}

export type ListenerCounter = keyof typeof L;

export interface TestPlane {
  readonly plane: DataPlane;
  /** The port the plane's one listener is bound to (127.0.0.1). */
  readonly port: number;
  /** Every record the plane logged (access log lines, warnings), parsed. */
  readonly logs: Record<string, unknown>[];
  /** Sessions alive in the plane. */
  readonly sessions: number;
  /** The process-wide admitted-connection count in shared memory. */
  readonly admitted: number;
  /** Recycler chunks holding unsent bytes (each 16 KiB). */
  readonly chunksInUse: number;
  /** Unsent bytes the sessions hold, in chunks or in a read's own buffer past buffer_limit. */
  readonly bytesQueued: number;
  /** Passive health reports the plane sent (to the main thread, in aegis): server indexes, in order. */
  readonly serverFailures: number[];
  /** A counter cell of the one listener. */
  counter(name: ListenerCounter): number;
  /** The access log records of finished sessions. */
  sessionLogs(): Record<string, unknown>[];
  /** The batches of ended sessions the plane posted (only while `plane.sessionEvents` is on). */
  readonly sessionBatches: SessionRecord[][];
  stop(): void;
  [Symbol.dispose](): void;
}

/** A Logger that keeps its records instead of writing them to stdout. */
class KeptLogger extends Logger {
  readonly records: Record<string, unknown>[] = [];
  override line(text: string): void {
    this.records.push(JSON.parse(text) as Record<string, unknown>);
  }
}

/**
 * One Worker's data plane with one listener on 127.0.0.1 port 0 relaying to `servers`, built the
 * way the Worker builds it (slots and layout as the supervisor computes them, one SharedArrayBuffer).
 */
export function startPlane(servers: readonly string[], setup: PlaneSetup = {}): TestPlane {
  const config = parseConfig(`
[global]
workers = 1
log_level = "debug"
access_log = true
${setup.global ?? ""}

[[listener]]
name = "main"
bind = "127.0.0.1:0"
upstream = "app"
${setup.listener ?? ""}

[[upstream]]
name = "app"
servers = [${servers.map((s) => JSON.stringify(s)).join(", ")}]
${setup.upstream ?? ""}
${setup.upstreams ?? ""}
`, "plane-test.toml");
  const slots = new SlotRegistry(config).assign(config);
  const layout = new CounterLayout(slots, config.global.workers);
  const sab = layout.allocate();
  const logger = new KeptLogger(config.global.logLevel);
  setThreadWorker(0);
  const serverFailures: number[] = [];
  const sessionBatches: SessionRecord[][] = [];
  // Built by the Worker's own composition root, so the test runs what a Worker runs.
  const plane = buildPlane({ config, slots, worker: 0, sab }, logger, (_upstream, server) => void serverFailures.push(server), setup.routes, undefined, (records) => void sessionBatches.push(records));
  let port: number;
  try {
    port = plane.start(null)[0]!.port;
  } finally {
    setThreadWorker(-1); // the test process is not a Worker outside this construction
  }
  const base = layout.listenerBase(0);
  const admission = admissionCell(sab);
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    plane.stopListening();
    plane.closeAll(); // also stops the plane's timer
  };
  return {
    plane,
    port,
    logs: logger.records,
    get sessions() { return plane.sessions.size; },
    get admitted() { return Atomics.load(admission, 0); },
    get chunksInUse() { return plane.recycler.chunksInUse; },
    get bytesQueued() {
      let n = 0;
      for (const s of plane.sessions) n += s.toServer.size + (s.conn?.toClient.size ?? 0);
      return n;
    },
    serverFailures,
    counter: (name) => plane.cells[base + L[name]]!,
    sessionLogs: () => logger.records.filter((r) => r.msg === "session"),
    sessionBatches,
    stop,
    [Symbol.dispose]: stop,
  };
}

// ---- recording socket events ------------------------------------------------------------------

/**
 * The events one socket saw, in order: "open", "data:<text>" (consecutive reads merged, since TCP
 * may split or join writes), "end", "close" or "close:<error code>", "connectError:<code>".
 */
export class Recorder {
  readonly #events: (string | { bytes: number; text: Buffer[] })[] = [];
  /** Every byte received, hashed in arrival order. */
  readonly hash = new Bun.CryptoHasher("sha256");
  bytes = 0;
  closed = false;
  readonly #waiters = new Set<() => void>();

  push(event: string): void {
    this.#events.push(event);
    if (event.startsWith("close") || event.startsWith("connectError")) this.closed = true;
    this.#wake();
  }

  data(data: Buffer): void {
    this.bytes += data.length;
    this.hash.update(data);
    const last = this.#events.at(-1);
    const keep = this.bytes <= TEXT_LIMIT ? data : null;
    if (last !== undefined && typeof last !== "string") {
      last.bytes += data.length;
      if (keep) last.text.push(Buffer.from(keep));
    } else {
      this.#events.push({ bytes: data.length, text: keep ? [Buffer.from(keep)] : [] });
    }
    this.#wake();
  }

  /** The first 4 KiB received, as bytes (binary protocols, which `events` would show as mangled text). */
  get received(): Buffer {
    return Buffer.concat(this.#events.flatMap((e) => (typeof e === "string" ? [] : e.text)));
  }

  /** The events; a data run over 4 KiB in all shows as "data:<n> bytes". */
  get events(): string[] {
    return this.#events.map((e) => {
      if (typeof e === "string") return e;
      const text = Buffer.concat(e.text);
      return text.length === e.bytes ? `data:${text.toString()}` : `data:${e.bytes} bytes`;
    });
  }

  /** Resolves once `predicate` holds for this recorder (checked on every event). */
  until(predicate: (r: Recorder) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    if (predicate(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate(this)) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`${what}: not within ${timeoutMs} ms; events so far ${JSON.stringify(this.events)}`));
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  /** Resolves once the socket has closed (or failed to connect). */
  untilClosed(what = "socket closed", timeoutMs = 10_000): Promise<void> {
    return this.until((r) => r.closed, what, timeoutMs);
  }

  /** Resolves once `count` bytes have arrived (in all, over every data event). */
  untilBytes(count: number, what = `${count} bytes arrived`, timeoutMs = 10_000): Promise<void> {
    return this.until((r) => r.bytes >= count, what, timeoutMs);
  }

  /** Calls `listener` after every event from now on (reads included); returns the call that stops it. */
  onEvent(listener: () => void): () => void {
    this.#waiters.add(listener);
    return () => void this.#waiters.delete(listener);
  }

  #wake(): void {
    for (const check of [...this.#waiters]) check();
  }
}
const TEXT_LIMIT = 4096;

function closeEvent(error: Error | undefined): string {
  if (!error) return "close";
  return `close:${(error as NodeJS.ErrnoException).code ?? error.message}`;
}

// ---- clients ----------------------------------------------------------------------------------

export interface TestClient {
  readonly socket: Socket<undefined>;
  readonly recorder: Recorder;
  readonly events: string[];
  /** Writes everything, queueing what the socket does not take until `drain`. */
  write(data: string | Uint8Array): void;
  /** Bytes queued here, not yet accepted by the kernel. */
  readonly pending: number;
}

export interface ClientOptions {
  /** Start paused: nothing is read until `socket.resume()` (a slow reader). */
  paused?: boolean;
  /** Called on every drain after the queue is flushed (to pump more). */
  onDrain?(client: TestClient): void;
  /** Called after each read is recorded. */
  onData?(client: TestClient, data: Buffer): void;
}

/** A client on a real socket (allowHalfOpen, so `shutdown()` is a true half-close) recording its events. */
export async function connectClient(port: number, options: ClientOptions = {}): Promise<TestClient> {
  const recorder = new Recorder();
  const pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let client!: TestClient;
  const flush = (s: Socket<undefined>): boolean => {
    while (pending.length) {
      const head = pending[0]!;
      const n = s.write(head);
      if (n < 0) {
        pending.length = 0;
        pendingBytes = 0;
        return false;
      }
      pendingBytes -= n;
      if (n < head.length) {
        pending[0] = head.subarray(n);
        return false;
      }
      pending.shift();
    }
    return true;
  };
  const socket = await Bun.connect<undefined>({
    hostname: "127.0.0.1",
    port,
    allowHalfOpen: true,
    socket: {
      open(s) {
        recorder.push("open");
        if (options.paused) s.pause();
      },
      data(_s, data) {
        recorder.data(data);
        options.onData?.(client, data);
      },
      drain(s) {
        if (flush(s)) options.onDrain?.(client);
      },
      end() { recorder.push("end"); },
      close(_s, error) { recorder.push(closeEvent(error)); },
      error() {}, // close follows with the error
      connectError(_s, error) { recorder.push(`connectError:${(error as NodeJS.ErrnoException).code ?? error.message}`); },
    },
  });
  client = {
    socket,
    recorder,
    get events() { return recorder.events; },
    get pending() { return pendingBytes; },
    write(data) {
      const bytes = typeof data === "string" ? Buffer.from(data) : data;
      if (pending.length) {
        pending.push(bytes);
        pendingBytes += bytes.length;
        return;
      }
      const n = socket.write(bytes);
      if (n >= 0 && n < bytes.length) {
        pending.push(bytes.subarray(n));
        pendingBytes += bytes.length - n;
      }
    },
  };
  return client;
}

// ---- backends ---------------------------------------------------------------------------------

/** One connection a backend accepted, and the events it saw. */
export interface BackendConn {
  readonly socket: Socket<BackendConn>;
  readonly recorder: Recorder;
  readonly events: string[];
}

export interface BackendScript {
  open?(conn: BackendConn): void;
  data?(conn: BackendConn, data: Buffer): void;
  end?(conn: BackendConn): void;
  drain?(conn: BackendConn): void;
}

export interface TestBackend {
  readonly port: number;
  readonly address: string;
  /** Every connection accepted, in order. */
  readonly conns: BackendConn[];
  /** Resolves with the `n`th connection (1-based) once accepted. */
  conn(n?: number, timeoutMs?: number): Promise<BackendConn>;
  stop(): void;
  [Symbol.dispose](): void;
}

/** A backend on 127.0.0.1 port 0 (allowHalfOpen) recording each connection's events; `script` decides what it does. */
export function startBackend(script: BackendScript = {}): TestBackend {
  const conns: BackendConn[] = [];
  const waiters = new Set<() => void>();
  const listener: TCPSocketListener<BackendConn> = Bun.listen<BackendConn>({
    hostname: "127.0.0.1",
    port: 0,
    allowHalfOpen: true,
    socket: {
      open(socket) {
        const recorder = new Recorder();
        const conn: BackendConn = { socket, recorder, get events() { return recorder.events; } };
        socket.data = conn;
        conns.push(conn);
        recorder.push("open");
        script.open?.(conn);
        for (const w of [...waiters]) w();
      },
      data(socket, data) {
        socket.data.recorder.data(data);
        script.data?.(socket.data, data);
      },
      drain(socket) { script.drain?.(socket.data); },
      end(socket) {
        socket.data.recorder.push("end");
        script.end?.(socket.data);
      },
      close(socket, error) { socket.data.recorder.push(closeEvent(error)); },
      error() {},
    },
  });
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    listener.stop(true);
  };
  return {
    port: listener.port,
    address: `127.0.0.1:${listener.port}`,
    conns,
    conn(n = 1, timeoutMs = 10_000) {
      if (conns.length >= n) return Promise.resolve(conns[n - 1]!);
      return new Promise((resolve, reject) => {
        const check = () => {
          if (conns.length < n) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve(conns[n - 1]!);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`backend: connection ${n} not accepted within ${timeoutMs} ms (${conns.length} so far)`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
    stop,
    [Symbol.dispose]: stop,
  };
}

/** Writes `data` in full on a backend socket, queueing the rest for `drain`; returns a pump to call from drain. */
export function writer(socket: Socket<BackendConn>): { write(data: string | Uint8Array): void; flush(): boolean; readonly pending: number } {
  const queue: Uint8Array[] = [];
  let pendingBytes = 0;
  const flush = () => {
    while (queue.length) {
      const head = queue[0]!;
      const n = socket.write(head);
      if (n < 0) {
        queue.length = 0;
        pendingBytes = 0;
        return false;
      }
      pendingBytes -= n;
      if (n < head.length) {
        queue[0] = head.subarray(n);
        return false;
      }
      queue.shift();
    }
    return true;
  };
  return {
    write(data) {
      const bytes = typeof data === "string" ? Buffer.from(data) : data;
      queue.push(bytes);
      pendingBytes += bytes.length;
      flush();
    },
    flush,
    get pending() { return pendingBytes; },
  };
}

/** Echoes every byte back; on the client's FIN, half-closes after what it owes. */
export function startEchoBackend(): TestBackend {
  const out = new WeakMap<BackendConn, ReturnType<typeof writer>>();
  const w = (c: BackendConn) => out.get(c) ?? (out.set(c, writer(c.socket)), out.get(c)!);
  const ended = new WeakSet<BackendConn>();
  return startBackend({
    data(c, data) {
      w(c).write(data);
      if (w(c).pending > 0) c.socket.pause();
    },
    drain(c) {
      if (!w(c).flush()) return;
      if (ended.has(c)) c.socket.shutdown();
      else c.socket.resume();
    },
    end(c) {
      ended.add(c);
      if (w(c).pending === 0) c.socket.shutdown();
    },
  });
}

/** Speaks first: writes `greeting` on accept, then echoes like `startEchoBackend`'s simple case. */
export function startGreetingBackend(greeting: string): TestBackend {
  return startBackend({
    open(c) { c.socket.write(greeting); },
    data(c, data) { c.socket.write(data); },
    end(c) { c.socket.shutdown(); },
  });
}

/** Reads nothing: every connection is paused from accept until the test calls `socket.resume()`. */
export function startSlowReaderBackend(): TestBackend {
  return startBackend({ open(c) { c.socket.pause(); } });
}

/** Resets (RST, SO_LINGER 0 through `terminate()`) each connection once it has received `after` bytes. */
export function startResettingBackend(after = 1): TestBackend {
  return startBackend({
    data(c) {
      if (c.recorder.bytes >= after) c.socket.terminate();
    },
  });
}

/** Sends `reply` and half-closes (FIN) on accept, then keeps reading whatever the client still sends. */
export function startHalfClosingBackend(reply: string): TestBackend {
  return startBackend({
    open(c) {
      c.socket.write(reply);
      c.socket.shutdown();
    },
    end(c) { c.socket.end(); },
  });
}

/** A port on 127.0.0.1 where nothing listens: bound, read and closed again. */
export function refusedAddress(): string {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return `127.0.0.1:${port}`;
}

export interface Blackhole {
  /** host:port whose connects never complete (the kernel drops the SYNs). */
  readonly address: string;
  stop(): void;
  [Symbol.dispose](): void;
}

/**
 * A port whose connects hang: a listener with a full accept queue that never accepts
 * (test/fixtures/blackhole.py in a subprocess, stopped by its PID).
 */
export async function startBlackhole(): Promise<Blackhole> {
  const proc = Bun.spawn(["python3", new URL("../fixtures/blackhole.py", import.meta.url).pathname], { stdin: "pipe", stdout: "pipe" });
  const stop = () => void proc.kill();
  try {
    const reader = proc.stdout.getReader();
    let text = "";
    for (let reads = 0; reads < 100 && !text.includes("\n"); reads++) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    reader.releaseLock();
    const port = Number(text.trim());
    if (!Number.isInteger(port) || port <= 0) throw new Error(`blackhole.py printed ${JSON.stringify(text)}, not a port`);
    return { address: `127.0.0.1:${port}`, stop, [Symbol.dispose]: stop };
  } catch (err) {
    stop();
    throw err;
  }
}
