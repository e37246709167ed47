// A Worker's data plane: its listeners, upstreams, sessions, recycler and single timer.
import type { Socket, SocketHandler, TCPSocketListener } from "bun";
import type { Address, Config } from "../config/types.ts";
import { CounterLayout, L, admissionCell, release, tryAdmit, workerCells } from "../telemetry/counters.ts";
import type { Logger } from "../telemetry/log.ts";
import { listenShared } from "./listen.ts";
import type { Plane } from "./plane-types.ts";
import { Recycler } from "./recycler.ts";
import { Session } from "./session.ts";
import { TimerWheel } from "./timer-wheel.ts";
import { UpstreamRuntime } from "./upstream.ts";

/** One Worker never holds more than this in unsent bytes, however many peers are slow. */
const WORKER_BUFFER_BUDGET = 512 * 1024 * 1024;
/** Per direction of one session: a Bun read is at most 512 KiB and the reader pauses at the first short write. */
const QUEUE_CAPACITY = 1024 * 1024;
const TICK_MS = 100;
const POOL_MAINTENANCE_TICKS = 10;

export interface PlaneOptions {
  config: Config;
  worker: number;
  sab: SharedArrayBuffer;
  logger: Logger;
  /** Tell the main thread a server failed a connect or reset a session (passive health checks). */
  onServerFailure(upstream: number, server: number): void;
}

export function counterLayoutFor(config: Config): CounterLayout {
  return new CounterLayout(config.listeners.length, config.upstreams.map((u) => u.servers.length), config.global.workers);
}

export class DataPlane implements Plane {
  readonly recycler = new Recycler(WORKER_BUFFER_BUDGET);
  readonly queueCapacity = QUEUE_CAPACITY;
  now = performance.now();
  readonly wheel = new TimerWheel(TICK_MS, this.now);
  readonly cells: Float64Array;
  readonly logger: Logger;
  readonly config: Config;
  readonly reportServerFailure: (upstream: number, server: number) => void;
  readonly upstreams: UpstreamRuntime[];
  readonly sessions = new Set<Session>();
  readonly #layout: CounterLayout;
  readonly #admission: Int32Array;
  readonly #servers: TCPSocketListener<Session | null>[] = [];
  /** Upstream runtime for each listener, by listener index. */
  readonly #route: UpstreamRuntime[];
  #timer: ReturnType<typeof setInterval> | null = null;
  #ticks = 0;
  #onDrained: (() => void) | null = null;
  #draining = false;

  constructor(options: PlaneOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.reportServerFailure = options.onServerFailure;
    this.#layout = counterLayoutFor(options.config);
    this.cells = workerCells(options.sab, this.#layout, options.worker);
    this.#admission = admissionCell(options.sab);
    this.upstreams = options.config.upstreams.map((u, i) => new UpstreamRuntime(i, u, this));
    this.#route = options.config.listeners.map((l) => {
      const up = this.upstreams.find((u) => u.config.name === l.upstream);
      if (!up) throw new Error(`listener ${l.name}: no upstream named ${l.upstream}`);
      return up;
    });
  }

  serverBase(upstream: number, server: number): number {
    return this.#layout.serverBase(upstream, server);
  }

  listenerBase(listener: number): number {
    return this.#layout.listenerBase(listener);
  }

  /** A health snapshot from the main thread: swapped in whole. */
  applySnapshot(upstream: number, available: readonly boolean[]): void {
    this.upstreams[upstream]?.applySnapshot(available);
  }

  listenerName(listener: number): string {
    return this.config.listeners[listener]?.name ?? "?";
  }

  /**
   * Bind every listener (ports from `ports` where given, so Workers share a port first bound as 0)
   * and start the timer and pools. Returns the bound addresses. Throws a readable error on failure.
   */
  start(ports: readonly number[] | null): Address[] {
    const bound: Address[] = [];
    this.config.listeners.forEach((l, i) => {
      const port = ports?.[i] ?? l.bind.port;
      try {
        const server = listenShared<Session | null>({ hostname: l.bind.host, port, socket: this.#clientHandlers(i) });
        this.#servers.push(server);
        bound.push({ host: l.bind.host, port: server.port });
      } catch (err) {
        this.stopListening();
        throw new Error(`listener ${l.name}: cannot listen on ${l.bind.host}:${port}: ${(err as Error).message}`);
      }
    });
    for (const up of this.upstreams) up.startPools();
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    return bound;
  }

  #clientHandlers(listener: number): SocketHandler<Session | null> {
    return {
      open: (socket) => this.#accept(listener, socket),
      data: (socket, data) => socket.data?.fromClient(data),
      drain: (socket) => socket.data?.onClientDrain(),
      end: (socket) => socket.data?.onClientEof(),
      close: (socket, error) => socket.data?.onClientClosed(error),
      error: () => {}, // `close` follows with the error
    };
  }

  #accept(listener: number, socket: Socket<Session | null>): void {
    socket.data = null;
    const base = this.listenerBase(listener);
    if (this.#draining) return this.#reject(listener, socket, L.rejectedShutdown, "shutdown");
    if (!tryAdmit(this.#admission, this.config.global.maxConnections)) {
      return this.#reject(listener, socket, L.rejectedMaxConnections, "max_connections");
    }
    this.cells[base + L.connections]! += 1;
    this.cells[base + L.active]! += 1;
    this.now = performance.now();
    const idle = this.config.listeners[listener]!.idleTimeoutMs;
    const session = new Session(this, listener, this.#route[listener]!, socket, idle);
    if (this.config.global.accessLog) session.rememberPeer();
    socket.data = session;
    this.sessions.add(session);
    session.connect();
  }

  #reject(listener: number, socket: Socket<Session | null>, cell: number, why: string): void {
    this.cells[this.listenerBase(listener) + cell]! += 1;
    if (this.config.global.accessLog) {
      this.logger.line(JSON.stringify({
        time: new Date().toISOString(), level: "info", msg: "session", listener: this.listenerName(listener),
        client: `${socket.remoteAddress}:${socket.remotePort}`, end: "rejected", reason: why,
      }));
    }
    socket.end();
  }

  finish(session: Session, durationMs: number): void {
    this.sessions.delete(session);
    this.cells[this.listenerBase(session.listener) + L.active]! -= 1;
    release(this.#admission);
    if (this.config.global.accessLog) this.logger.line(accessLine(session, durationMs));
    if (this.#onDrained && this.sessions.size === 0) this.#onDrained();
  }

  #tick(): void {
    this.now = performance.now();
    this.wheel.advance(this.now);
    if (++this.#ticks % POOL_MAINTENANCE_TICKS === 0 && !this.#draining) {
      for (const up of this.upstreams) up.maintainPools(this.now);
    }
  }

  stopListening(): void {
    for (const server of this.#servers.splice(0)) server.stop(false);
  }

  /** Stop accepting now; call `done` once every session has ended on its own. */
  drain(done: () => void): void {
    this.#draining = true;
    this.stopListening();
    for (const up of this.upstreams) up.stopPools();
    this.#onDrained = done;
    if (this.sessions.size === 0) done();
  }

  /** Grace is over: end every session that remains. */
  closeAll(): void {
    for (const session of [...this.sessions]) session.close("shutdown");
    if (this.#timer) clearInterval(this.#timer);
  }
}

function accessLine(s: Session, durationMs: number): string {
  const conn = s.conn;
  return JSON.stringify({
    time: new Date().toISOString(),
    level: "info",
    msg: "session",
    listener: s.plane.listenerName(s.listener),
    client: `${s.clientAddress}:${s.clientPort}`,
    upstream: s.upstream.config.name,
    server: conn ? s.upstream.serverName(conn.server) : null,
    bytes_in: s.bytesIn,
    bytes_out: s.bytesOut,
    connect_ms: s.connectMs < 0 ? null : Math.round(s.connectMs * 100) / 100,
    duration_ms: Math.round(durationMs * 100) / 100,
    attempts: s.attempts,
    end: s.endReason ?? "client_closed",
  });
}
