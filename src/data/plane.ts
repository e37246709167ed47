// A Worker's data plane: its listeners, upstreams, sessions, recycler and single timer.
import type { Socket, SocketHandler } from "bun";
import type { Address, Config } from "../config/types.ts";
import { CounterLayout, L, admissionCell, release, tryAdmit, workerCells, type CounterSlots } from "../telemetry/counters.ts";
import type { Logger } from "../telemetry/log.ts";
import { SESSION_BUCKETS, observe } from "../telemetry/histogram-cells.ts";
import { listenShared } from "./listen.ts";
import type { Plane } from "./plane-types.ts";
import { Recycler } from "./recycler.ts";
import { Session } from "./session.ts";
import { TimerWheel } from "./timer-wheel.ts";
import { UpstreamRuntime, type UpstreamEnv } from "./upstream.ts";
import { ListenerRuntime } from "./listener-runtime.ts";
import { Admission } from "../admission/admission.ts";
import { IP_UNTRACKED } from "../admission/ip-table.ts";
import { refusalCell, refusalReason } from "../admission/refusals.ts";
import type { ServerState } from "../health/server-state.ts";

/** One Worker never holds more than this in unsent bytes, however many peers are slow. */
const WORKER_BUFFER_BUDGET = 512 * 1024 * 1024;
/** Per direction of one session: a Bun read is at most 512 KiB and the reader pauses at the first short write. */
const QUEUE_CAPACITY = 1024 * 1024;
const TICK_MS = 100;
const POOL_MAINTENANCE_TICKS = 10;

export interface PlaneOptions {
  config: Config;
  slots: CounterSlots;
  worker: number;
  sab: SharedArrayBuffer;
  logger: Logger;
  /** Tell the main thread a server failed a connect or reset a session (passive health checks). */
  onServerFailure(upstream: number, server: number): void;
}

export class DataPlane implements Plane {
  readonly recycler = new Recycler(WORKER_BUFFER_BUDGET);
  readonly queueCapacity = QUEUE_CAPACITY;
  now = performance.now();
  readonly wheel = new TimerWheel(TICK_MS, this.now);
  readonly cells: Float64Array;
  readonly logger: Logger;
  config: Config;
  readonly reportServerFailure: (upstream: number, server: number) => void;
  upstreams: UpstreamRuntime[] = [];
  listeners: ListenerRuntime[] = [];
  readonly sessions = new Set<Session>();
  #layout: CounterLayout;
  readonly #admission: Int32Array;
  /** ACLs, per-IP limits, server limits and queues (src/admission). */
  readonly #gates: Admission;
  #timer: ReturnType<typeof setInterval> | null = null;
  #ticks = 0;
  #onDrained: (() => void) | null = null;
  #draining = false;

  constructor(options: PlaneOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.reportServerFailure = options.onServerFailure;
    this.#layout = new CounterLayout(options.slots, options.config.global.workers);
    this.cells = workerCells(options.sab, this.#layout, options.worker);
    this.#admission = admissionCell(options.sab);
    this.#gates = new Admission(options.sab, () => this.#layout, options.worker);
  }

  serverBase(upstream: number, server: number): number {
    return this.#layout.serverBase(upstream, server);
  }

  /** A health snapshot from the main thread: swapped in whole. */
  applySnapshot(upstream: number, states: readonly ServerState[], weights?: readonly number[]): void {
    this.upstreams[upstream]?.applySnapshot(states, weights);
  }

  /**
   * Bind every listener (ports from `ports` where given, so Workers share a port first bound as 0)
   * and start the timer. Returns the bound addresses. Throws a readable error on failure.
   */
  start(ports: readonly (number | null)[] | null): Address[] {
    const bound = this.reload(this.config, this.#layout.slots, ports);
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    return bound;
  }

  /**
   * Swap to `config`: sessions in flight keep their listener, upstream and server; listeners kept by
   * name and address keep their socket; new ones start; removed ones stop accepting (their sessions
   * go on); an upstream whose settings are unchanged keeps its balancer state and pool.
   */
  reload(config: Config, slots: CounterSlots, ports: readonly (number | null)[] | null): Address[] {
    const layout = new CounterLayout(slots, config.global.workers);
    const env = this.#envFor(layout);
    const oldUpstreams = new Map(this.upstreams.map((u) => [u.config.name, u]));
    const upstreams = config.upstreams.map((u, i) => {
      const old = oldUpstreams.get(u.name);
      if (old && JSON.stringify(old.config) === JSON.stringify(u)) {
        oldUpstreams.delete(u.name);
        old.index = i;
        return old;
      }
      return new UpstreamRuntime(i, u, env);
    });
    const oldListeners = [...this.listeners];
    const added: ListenerRuntime[] = [];
    const listeners = config.listeners.map((l, i) => {
      const route = upstreams.find((u) => u.config.name === l.upstream);
      if (!route) throw new Error(`listener ${l.name}: no upstream named ${l.upstream}`);
      const at = oldListeners.findIndex((o) => o.sameSocket(l));
      const kept = at >= 0 ? oldListeners.splice(at, 1)[0]! : null;
      const rt = kept ?? new ListenerRuntime(l, route, 0, 0);
      rt.config = l;
      rt.upstream = route;
      rt.base = layout.listenerBase(i);
      rt.histBase = layout.sessionHistBase(i);
      if (!kept) added.push(rt);
      return rt;
    });
    // Bind the new listeners before changing anything, so a failure leaves the old config running.
    try {
      for (const rt of added) {
        const i = listeners.indexOf(rt);
        const port = ports?.[i] ?? rt.config.bind.port;
        try {
          rt.socket = listenShared<Session | null>({ hostname: rt.config.bind.host, port, socket: this.#clientHandlers(rt) });
        } catch (err) {
          throw new Error(`listener ${rt.config.name}: cannot listen on ${rt.config.bind.host}:${port}: ${(err as Error).message}`);
        }
      }
    } catch (err) {
      for (const rt of added) rt.socket?.stop(true);
      throw err;
    }
    for (const gone of oldListeners) gone.socket?.stop(false); // stop accepting; its sessions go on
    for (const gone of oldUpstreams.values()) {
      gone.index = -1; // its sessions' failure reports no longer match a server the main thread knows
      gone.stopPools();
    }
    this.config = config;
    this.#layout = layout;
    this.upstreams = upstreams;
    this.listeners = listeners;
    if (!this.#draining) for (const up of upstreams) up.startPools();
    return listeners.map((rt) => ({ host: rt.config.bind.host, port: rt.socket!.port }));
  }

  #envFor(layout: CounterLayout): UpstreamEnv {
    const plane = this;
    return {
      recycler: this.recycler,
      cells: this.cells,
      queueCapacity: this.queueCapacity,
      get now() { return plane.now; },
      serverBase: (upstream, server) => layout.serverBase(upstream, server),
      connectHistBase: (upstream, server) => layout.connectHistBase(upstream, server),
      serverSessionHistBase: (upstream, server) => layout.serverSessionHistBase(upstream, server),
    };
  }

  #clientHandlers(listener: ListenerRuntime): SocketHandler<Session | null> {
    return {
      open: (socket) => this.#accept(listener, socket),
      data: (socket, data) => socket.data?.fromClient(data),
      drain: (socket) => socket.data?.onClientDrain(),
      end: (socket) => socket.data?.onClientEof(),
      close: (socket, error) => socket.data?.onClientClosed(error),
      error: () => {}, // `close` follows with the error
    };
  }

  #accept(listener: ListenerRuntime, socket: Socket<Session | null>): void {
    socket.data = null;
    const base = listener.base;
    if (this.#draining) return this.#reject(listener, socket, L.rejectedShutdown, "shutdown");
    // ACL, then per-IP cap and rate: before any upstream work, and before a global place is taken.
    const gate = this.#gates.listener(listener.config, base);
    const ip = gate === null ? IP_UNTRACKED : gate.admit(socket.remoteAddress);
    if (ip < IP_UNTRACKED) return this.#reject(listener, socket, refusalCell(ip), refusalReason(ip));
    if (!tryAdmit(this.#admission, this.config.global.maxConnections)) {
      this.#gates.releaseIp(ip);
      return this.#reject(listener, socket, L.rejectedMaxConnections, "max_connections");
    }
    this.cells[base + L.connections]! += 1;
    this.cells[base + L.active]! += 1;
    this.now = performance.now();
    const session = new Session(this, listener.ref(), listener.upstream, socket, listener.config.idleTimeoutMs);
    session.ipSlot = ip;
    session.gate = this.#gates.upstream(listener.upstream);
    if (this.config.global.accessLog) session.rememberPeer();
    socket.data = session;
    this.sessions.add(session);
    session.connect();
  }

  #reject(listener: ListenerRuntime, socket: Socket<Session | null>, cell: number, why: string): void {
    this.cells[listener.base + cell]! += 1;
    if (this.config.global.accessLog) {
      this.logger.entry({
        time: new Date().toISOString(), level: "info", msg: "session", listener: listener.name,
        client: `${socket.remoteAddress}:${socket.remotePort}`, end: "rejected", reason: why,
      });
    }
    socket.end();
  }

  finish(session: Session, durationMs: number): void {
    this.sessions.delete(session);
    this.cells[session.listener.base + L.active]! -= 1;
    observe(this.cells, session.listener.histBase, SESSION_BUCKETS, durationMs / 1000);
    // Only sessions that reached a server (conn is dropped when a connect fails or is abandoned).
    if (session.conn) session.upstream.observeSession(session.conn.server, durationMs / 1000);
    release(this.#admission);
    this.#gates.releaseIp(session.ipSlot);
    if (this.config.global.accessLog) this.logger.entry(accessRecord(session, durationMs));
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
    for (const rt of this.listeners) {
      rt.socket?.stop(false);
      rt.socket = null;
    }
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

/** The access log record: the fields HAProxy's `option tcplog` users look for, with our names. */
function accessRecord(s: Session, durationMs: number): Record<string, unknown> {
  const conn = s.conn;
  return {
    time: new Date().toISOString(),
    level: "info",
    msg: "session",
    listener: s.listener.name,
    client: `${s.clientAddress}:${s.clientPort}`,
    upstream: s.upstream.config.name,
    server: conn ? s.upstream.serverName(conn.server) : null,
    // The server's state as the session ends (down, ejected, draining... explain many endings).
    server_state: conn ? s.upstream.stateOf(conn.server) : null,
    bytes_in: s.bytesIn,
    bytes_out: s.bytesOut,
    connect_ms: s.connectMs < 0 ? null : Math.round(s.connectMs * 100) / 100,
    duration_ms: Math.round(durationMs * 100) / 100,
    attempts: s.attempts,
    end: s.endReason ?? "client_closed",
    ...(s.rejectReason ? { reason: s.rejectReason } : {}),
  };
}
