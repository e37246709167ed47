// A Worker's data plane: its listeners, upstreams, sessions, recycler and single timer.
import type { Socket, SocketHandler } from "bun";
import type { Address, Config, ListenerConfig, UpstreamConfig } from "../config/types.ts";
import { CounterLayout, L, SESSION_BUCKETS, workerCells, type CounterSlots } from "../shared/layout.ts";
import { admissionCell, release, tryAdmit } from "../shared/connections.ts";
import type { Logger } from "../telemetry/log.ts";
import { observe } from "../telemetry/histogram-cells.ts";
import { listenShared } from "./listen.ts";
import type { Plane } from "./plane-types.ts";
import { Recycler, SLAB_SIZE } from "../primitives/recycler.ts";
import { QueuePool } from "../primitives/byte-queue.ts";
import { Session, type Routes } from "./session.ts";
import { openFileLimit, outOfDescriptors, sessionsThatFit } from "../os/descriptors.ts";
import { TimerWheel } from "../primitives/timer-wheel.ts";
import type { Assigner, AssignerEnv } from "../upstream/assigner.ts";
import { ListenerRuntime } from "./listener-runtime.ts";
import type { ListenerGates } from "../admission/gates.ts";
import { IP_UNTRACKED } from "../admission/ip-table.ts";
import { refusalCell, refusalReason } from "../admission/refusals.ts";
import type { ServerState } from "../health/server-state.ts";
import { addSniCertificates, serverOptions } from "./tls-listen.ts";
import type { ClientEvents } from "./stream-tls.ts";
import { ClientGeo } from "./client-geo.ts";
import { ProxyAccept } from "./proxy-accept.ts";
import { WorkerTalkers } from "./worker-talkers.ts";
import { offDownServers, offRemovedServers } from "./on-down.ts";
import type { ListenerTalkers } from "../telemetry/top-talkers.ts";
import type { SessionRecord } from "../telemetry/session-record.ts";
import { SessionEvents } from "./session-events.ts";
import type { StickTable } from "../stick/table.ts";
import { listensWithTls } from "../config/listener-identity.ts";
import { parseIp, newIpWords } from "../net/ip.ts";

/**
 * Slabs empty this long go back to the OS, all but SLAB_RESERVE of them: a burst's memory leaves
 * within half a minute, while steady traffic keeps its slabs. AEGIS_SLAB_IDLE_MS shortens it for tests.
 * None is kept: after a burst a kept slab was 1 MiB per Worker of the 20% the RSS must fall back
 * within, to save one allocation at most every 15 s.
 */
const SLAB_IDLE_MS = Number(process.env.AEGIS_SLAB_IDLE_MS) > 0 ? Number(process.env.AEGIS_SLAB_IDLE_MS) : 15_000;
const SLAB_RESERVE = 0;
const TICK_MS = 100;
const FD_LOG_EVERY_MS = 10_000;
const POOL_MAINTENANCE_TICKS = 10;

export interface PlaneOptions {
  config: Config;
  slots: CounterSlots;
  worker: number;
  sab: SharedArrayBuffer;
  logger: Logger;
  /** Tell the main thread a server failed a connect or reset a session (passive health checks). */
  onServerFailure(upstream: number, server: number): void;
  /** Each listener's ACL and per-IP limits (built by the Worker's composition root). */
  gates: ListenerGates;
  /** Build the assigner of one upstream of a config (the composition root picks its algorithm). */
  assigner(index: number, config: UpstreamConfig, env: AssignerEnv): Assigner;
  /** The Worker's top talkers, every few seconds, for the main thread to merge. */
  postTalkers?(listeners: ListenerTalkers[]): void;
  /** Ended sessions, in batches, while the main thread has a session listener (see session-events.ts). */
  postSessions?(records: SessionRecord[]): void;
  /** Build a listener's route table; `resolve` turns an upstream name into its assigner (or throws). */
  routes(listener: ListenerConfig, resolve: (upstream: string) => Assigner): Routes;
}

/** A listener bound by a prepared reload, and the connections it accepted before the commit. */
interface HeldListener {
  rt: ListenerRuntime;
  held: Set<Socket<Session | null>> | null;
  open?: (socket: Socket<Session | null>) => void;
}

/** What `prepareReload` built and `commitReload` switches to (or `abortReload` closes). */
export interface PreparedReload {
  readonly config: Config;
  readonly layout: CounterLayout;
  readonly upstreams: Assigner[];
  /** Per listener of the new config: its runtime (kept or new) and the fields the commit sets on it. */
  readonly listeners: { rt: ListenerRuntime; config: ListenerConfig; routes: Routes; base: number; histBase: number }[];
  readonly geo: ClientGeo | null;
  readonly added: HeldListener[];
  readonly goneListeners: ListenerRuntime[];
  readonly goneUpstreams: Assigner[];
  readonly addresses: Address[];
}

export class DataPlane implements Plane {
  readonly recycler: Recycler;
  readonly queues: QueuePool;
  now = performance.now();
  readonly wheel = new TimerWheel(TICK_MS, this.now);
  readonly cells: Float64Array;
  readonly logger: Logger;
  config: Config;
  readonly reportServerFailure: (upstream: number, server: number) => void;
  upstreams: Assigner[] = [];
  listeners: ListenerRuntime[] = [];
  readonly sessions = new Set<Session>();
  geo: ClientGeo | null = null;
  readonly talkers = new WorkerTalkers(this.now);
  /** Ended sessions for a program's on("session"); off unless the main thread turns it on. */
  readonly sessionEvents: SessionEvents;
  readonly #worker: number;
  /** The stick tables the main thread shares, by upstream name; set before each start or reload. */
  stickTables: ReadonlyMap<string, StickTable> = new Map();
  readonly #postTalkers: PlaneOptions["postTalkers"];
  /** For the trusted-peer check of PROXY-protocol listeners; reused, so the check allocates nothing. */
  readonly #peerWords = newIpWords();
  #layout: CounterLayout;
  /** The process-wide count of admitted sessions, against max_connections (shared by all Workers). */
  readonly #admitted: Int32Array;
  /** Each listener's ACL and per-IP limits (src/admission). */
  readonly #gates: ListenerGates;
  readonly #buildAssigner: PlaneOptions["assigner"];
  readonly #buildRoutes: PlaneOptions["routes"];
  #timer: ReturnType<typeof setInterval> | null = null;
  #ticks = 0;
  #onDrained: (() => void) | null = null;
  /** Sessions admitted process-wide: max_connections, or fewer when the open-file limit cannot fit it. */
  #sessionCap: number;
  #fdLoggedAt = Number.NEGATIVE_INFINITY;
  /** The open-file limit, read at start: /proc cannot be read once descriptors have run out. */
  readonly #fdLimit = openFileLimit();
  /** Sessions whose connect failed for want of descriptors, waiting for them to come back. */
  readonly #descriptorWaiters = new Set<Session>();
  #draining = false;

  constructor(options: PlaneOptions) {
    this.config = options.config;
    this.recycler = new Recycler(options.config.global.bufferBudget);
    this.queues = new QueuePool(this.recycler);
    this.logger = options.logger;
    this.reportServerFailure = options.onServerFailure;
    this.#layout = new CounterLayout(options.slots, options.config.global.workers);
    this.cells = workerCells(options.sab, this.#layout, options.worker);
    this.#admitted = admissionCell(options.sab);
    this.#gates = options.gates;
    this.#buildAssigner = options.assigner;
    this.#buildRoutes = options.routes;
    this.#postTalkers = options.postTalkers;
    this.sessionEvents = new SessionEvents(options.postSessions ?? null);
    this.#worker = options.worker;
    this.#sessionCap = Math.min(options.config.global.maxConnections, sessionsThatFit(options.config));
  }

  serverBase(upstream: number, server: number): number {
    return this.#layout.serverBase(upstream, server);
  }

  /** A health snapshot from the main thread: swapped in whole. */
  applySnapshot(upstream: number, states: readonly ServerState[], weights?: readonly number[]): void {
    const u = this.upstreams[upstream];
    if (!u) return;
    u.apply(states, weights);
    for (const s of offDownServers(this.sessions, u, states)) s.close("server_down", true);
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
   * Swap to `config` in one step: `prepareReload`, then `commitReload`. Throws (changing nothing)
   * when a new listener cannot bind.
   */
  reload(config: Config, slots: CounterSlots, ports: readonly (number | null)[] | null): Address[] {
    const prepared = this.prepareReload(config, slots, ports);
    this.commitReload(prepared);
    return prepared.addresses;
  }

  /**
   * The first phase of a reload: bind the new listeners and build the new upstreams, changing
   * nothing that runs. Connections a new listener accepts before the commit are held, unread, and
   * accepted under the new config at commit (reset at abort). Throws, with nothing left bound, when
   * a listener cannot bind or the plane is draining.
   */
  prepareReload(config: Config, slots: CounterSlots, ports: readonly (number | null)[] | null): PreparedReload {
    if (this.#draining) throw new Error("the Worker is shutting down");
    const layout = new CounterLayout(slots, config.global.workers);
    const env = this.#envFor(layout);
    const g = config.global;
    const geo = g.geoip === null && Object.keys(g.regions).length === 0 ? null : this.geo?.serves(g) ? this.geo : new ClientGeo(g);
    const oldUpstreams = new Map(this.upstreams.map((u) => [u.config.name, u]));
    const upstreams = config.upstreams.map((u) => {
      const old = oldUpstreams.get(u.name);
      if (old && JSON.stringify(old.config) === JSON.stringify(u)) {
        oldUpstreams.delete(u.name);
        return old;
      }
      return null;
    }).map((kept, i) => kept ?? this.#buildAssigner(i, config.upstreams[i]!, env));
    const oldListeners = [...this.listeners];
    const added: HeldListener[] = [];
    const listeners = config.listeners.map((l, i) => {
      const routes = this.#buildRoutes(l, (name) => {
        const upstream = upstreams.find((u) => u.config.name === name);
        if (!upstream) throw new Error(`listener ${l.name}: no upstream named ${name}`);
        return upstream;
      });
      const at = oldListeners.findIndex((o) => o.sameSocket(l));
      const kept = at >= 0 ? oldListeners.splice(at, 1)[0]! : null;
      const rt = kept ?? new ListenerRuntime(l, routes, layout.listenerBase(i), layout.sessionHistBase(i));
      if (!kept) added.push({ rt, held: new Set() });
      return { rt, config: l, routes, base: layout.listenerBase(i), histBase: layout.sessionHistBase(i) };
    });
    try {
      for (const entry of added) {
        const i = listeners.findIndex((l) => l.rt === entry.rt);
        const port = ports?.[i] ?? entry.rt.config.bind.port;
        const tls = entry.rt.config.tls;
        const tlsSocket = listensWithTls(entry.rt.config);
        try {
          entry.rt.socket = listenShared<Session | null>({
            hostname: entry.rt.config.bind.host, port, socket: this.#heldUntilCommit(entry),
            ...(tls && tlsSocket ? { tls: serverOptions(tls) } : {}),
          });
          if (tls && tlsSocket) addSniCertificates(entry.rt.socket, tls);
          // Plain listening socket, TLS per connection: after the SSLRequest, or after the PROXY header.
          entry.rt.upgradeTls = tls && !tlsSocket ? serverOptions(tls) : null;
        } catch (err) {
          throw new Error(`listener ${entry.rt.config.name}: cannot listen on ${entry.rt.config.bind.host}:${port}: ${(err as Error).message}`);
        }
      }
    } catch (err) {
      this.abortReload({ added });
      throw err;
    }
    const addresses = listeners.map((l) => ({ host: l.config.bind.host, port: l.rt.socket!.port }));
    return { config, layout, upstreams, listeners, added, goneListeners: oldListeners, goneUpstreams: [...oldUpstreams.values()], addresses, geo };
  }

  /** The second phase: switch to what `prepareReload` built. Never throws. */
  commitReload(p: PreparedReload): void {
    for (const gone of p.goneListeners) gone.socket?.stop(false); // stop accepting; its sessions go on
    for (const gone of p.goneUpstreams) {
      gone.index = -1; // its sessions' failure reports no longer match a server the main thread knows
      gone.stop();
    }
    p.upstreams.forEach((u, i) => (u.index = i));
    for (const l of p.listeners) {
      l.rt.config = l.config;
      l.rt.routes = l.routes;
      l.rt.base = l.base;
      l.rt.histBase = l.histBase;
    }
    this.config = p.config;
    this.recycler.budget = p.config.global.bufferBudget;
    this.geo = p.geo;
    this.#sessionCap = Math.min(p.config.global.maxConnections, sessionsThatFit(p.config));
    this.#layout = p.layout;
    this.upstreams = p.upstreams;
    this.listeners = p.listeners.map((l) => l.rt);
    if (!this.#draining) for (const up of p.upstreams) up.start();
    for (const s of offRemovedServers(this.sessions, p.upstreams, p.goneUpstreams)) s.close("server_down", true);
    for (const entry of p.added) {
      const early = [...(entry.held ?? [])];
      entry.held = null; // from now on the listener's events go straight to the session handlers
      for (const socket of early) {
        socket.resume();
        entry.open!(socket);
      }
    }
  }

  /** Undo `prepareReload`: close the listeners it bound (and reset what they held). Nothing else had changed. */
  abortReload(p: Pick<PreparedReload, "added">): void {
    for (const entry of p.added) {
      for (const socket of entry.held ?? []) socket.terminate();
      entry.held = null;
      entry.rt.socket?.stop(true);
      entry.rt.socket = null;
    }
  }

  /** A new listener's handlers: until the commit, a connection is paused and held, not accepted. */
  #heldUntilCommit(entry: HeldListener): SocketHandler<Session | null> {
    const handlers = this.#clientHandlers(entry.rt);
    const open = handlers.open!;
    const close = handlers.close!;
    entry.open = open;
    return {
      ...handlers,
      open: (socket) => {
        if (!entry.held) return open(socket);
        socket.data = null;
        socket.pause();
        entry.held.add(socket);
      },
      close: (socket, error) => (entry.held ? void entry.held.delete(socket) : close(socket, error)),
    };
  }

  #envFor(layout: CounterLayout): AssignerEnv {
    const plane = this;
    return {
      recycler: this.recycler,
      cells: this.cells,
      queues: this.queues,
      wheel: this.wheel,
      get now() { return plane.now; },
      layout,
      shortOfDescriptors: () => this.shortOfDescriptors(),
      reportFailure: (upstream, server) => this.reportServerFailure(upstream, server),
      stickTable: (upstream) => this.stickTables.get(upstream) ?? null,
      logger: this.logger,
    };
  }

  /** A client socket's events, once it is a session's (its listener's, or one upgraded to TLS after a postgres SSLRequest). */
  readonly upgradedHandlers: SocketHandler<ClientEvents | null> = {
    data: (socket, data) => socket.data?.fromClient(data),
    drain: (socket) => socket.data?.onClientDrain(),
    end: (socket) => socket.data?.onClientEof(),
    close: (socket, error) => socket.data?.onClientClosed(error),
    handshake: (socket, ok, error) => socket.data?.onClientHandshake(ok, error),
    error: () => {}, // `close` follows with the error
  };

  #clientHandlers(listener: ListenerRuntime): SocketHandler<Session | null> {
    return { ...this.upgradedHandlers, open: (socket) => this.#accept(listener, socket) };
  }

  #accept(listener: ListenerRuntime, socket: Socket<Session | null>): void {
    socket.data = null;
    if (this.#draining) return this.#reject(listener, socket, L.rejectedShutdown, "shutdown");
    const proxy = listener.config.proxyProtocol;
    if (proxy) {
      // Only the balancers in front may say who the client is; the client's own admission waits for the header.
      if (!(parseIp(socket.remoteAddress, this.#peerWords) && listener.trustedProxies.has(this.#peerWords))) {
        this.logger.debug("connection refused: proxy_protocol", { listener: listener.name, peer: socket.remoteAddress, why: "not in proxy_protocol_from" });
        return this.#reject(listener, socket, L.rejectedProxyProtocol, "proxy_protocol");
      }
      const session = this.#admit(listener, socket, IP_UNTRACKED);
      session?.awaitProxy(new ProxyAccept(proxy, listener));
      return;
    }
    // ACL, then per-IP cap and rate: before any upstream work, and before a global place is taken.
    const gate = this.#gates.listener(listener.config, listener.base);
    const ip = gate === null ? IP_UNTRACKED : gate.admit(socket.remoteAddress);
    if (ip < IP_UNTRACKED) return this.#reject(listener, socket, refusalCell(ip), refusalReason(ip));
    const session = this.#admit(listener, socket, ip);
    if (session) this.#begin(listener, session, null);
  }

  /** A global place for a new connection (false: refused, and `ip` given back), then its Session. */
  #admit(listener: ListenerRuntime, socket: Socket<Session | null>, ip: number): Session | null {
    if (!tryAdmit(this.#admitted, this.#sessionCap)) {
      this.#gates.releaseIp(ip);
      if (this.#sessionCap < this.config.global.maxConnections) {
        // The open-file limit is what binds: a session past it would fail its own server connect.
        this.#descriptorsShort();
        this.#reject(listener, socket, L.rejectedFdLimit, "fd_limit");
      } else {
        this.#reject(listener, socket, L.rejectedMaxConnections, "max_connections");
      }
      return null;
    }
    const base = listener.base;
    this.cells[base + L.connections]! += 1;
    this.cells[base + L.active]! += 1;
    this.now = performance.now();
    const session = new Session(this, listener.ref(), socket);
    session.ipSlot = ip;
    if (this.#accessLog || this.sessionEvents.on) session.rememberPeer();
    socket.data = session;
    this.sessions.add(session);
    return session;
  }

  /**
   * accept -> [PROXY header] -> admission -> [TLS handshake] -> route -> assign -> relay.
   * `rest`: the stream's first bytes, read with a PROXY header (null: nothing read yet).
   */
  #begin(listener: ListenerRuntime, session: Session, rest: Uint8Array | null): void {
    this.talkers.began(session);
    const tls = listener.config.tls;
    if (tls) return session.awaitTls(listener.routes, tls, listener.upgradeTls, rest);
    session.route(listener.routes);
    if (rest !== null && rest.length > 0) session.fromClient(rest as Buffer);
  }

  admitProxied(session: Session, listener: ListenerRuntime, rest: Uint8Array): void {
    const gate = this.#gates.listener(listener.config, listener.base);
    const ip = gate === null ? IP_UNTRACKED : gate.admit(session.clientAddress);
    if (ip < IP_UNTRACKED) return session.refuse(refusalCell(ip), refusalReason(ip));
    session.ipSlot = ip;
    this.#begin(listener, session, rest);
  }

  #reject(listener: ListenerRuntime, socket: Socket<Session | null>, cell: number, why: string): void {
    this.cells[listener.base + cell]! += 1;
    if (this.sessionEvents.on) this.sessionEvents.push(refusedRecord(listener.name, socket, why, this.#worker));
    if (this.#accessLog) {
      this.logger.entry({
        time: new Date().toISOString(), level: "info", msg: "session", listener: listener.name,
        client: `${socket.remoteAddress}:${socket.remotePort}`, end: "rejected", reason: why,
      });
    }
    socket.end();
  }

  shortOfDescriptors(): boolean {
    if (!outOfDescriptors()) return false;
    this.#descriptorsShort();
    return true;
  }

  waitForDescriptors(session: Session): void {
    this.#descriptorWaiters.add(session);
  }

  /** One error line every 10 s at most: running out of descriptors is an operator's problem, not a server's. */
  #descriptorsShort(): void {
    const now = performance.now();
    if (now - this.#fdLoggedAt < FD_LOG_EVERY_MS) return;
    this.#fdLoggedAt = now;
    this.logger.error("too many open files: new connections wait in the kernel's backlog, or are refused (reason fd_limit), until descriptors free up", {
      open_file_limit: this.#fdLimit, max_connections: this.config.global.maxConnections, sessions_that_fit: this.#sessionCap,
      fix: "raise the open-file limit: LimitNOFILE= in the systemd unit, or ulimit -n before starting aegis",
    });
  }

  finish(session: Session, durationMs: number): void {
    this.sessions.delete(session);
    this.#descriptorWaiters.delete(session);
    this.cells[session.listener.base + L.active]! -= 1;
    observe(this.cells, session.listener.histBase, SESSION_BUCKETS, durationMs / 1000);
    // Only sessions that reached a server (conn is dropped when a connect fails or is abandoned).
    if (session.conn) session.assigner!.finished(session.conn.server, durationMs / 1000);
    if (session.stickSlot >= 0) session.assigner!.unstick(session);
    this.talkers.ended(session);
    release(this.#admitted);
    this.#gates.releaseIp(session.ipSlot);
    if (this.#accessLog) this.logger.entry(accessRecord(session, durationMs));
    if (this.sessionEvents.on) this.sessionEvents.push(sessionRecord(session, durationMs, this.#worker));
    if (this.#onDrained && this.sessions.size === 0) this.#onDrained();
  }

  /** Whether a line per session is written: configured, and a logger that keeps what it is given. */
  get #accessLog(): boolean {
    return this.config.global.accessLog && this.logger.writes;
  }

  #tick(): void {
    this.now = performance.now();
    this.sessionEvents.flush();
    this.wheel.advance(this.now);
    if (this.#descriptorWaiters.size > 0 && !outOfDescriptors()) {
      const waiting = [...this.#descriptorWaiters];
      this.#descriptorWaiters.clear();
      for (const session of waiting) session.descriptorsBack();
    }
    if (++this.#ticks % POOL_MAINTENANCE_TICKS === 0 && !this.#draining) {
      for (const up of this.upstreams) up.maintain(this.now);
      // A full collection, only when slabs were dropped: without one their pages stay mapped.
      const freed = this.recycler.trim(this.now, SLAB_IDLE_MS, SLAB_RESERVE);
      if (freed > 0) {
        Bun.gc(true);
        this.logger.debug("buffers given back", { slabs: freed, kept: this.recycler.bytesAllocated / SLAB_SIZE });
      }
    }
    const talkers = this.#postTalkers && this.talkers.tick(this.now, this.sessions, this.listeners);
    if (talkers) this.#postTalkers!(talkers);
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
    for (const up of this.upstreams) up.stop();
    this.#onDrained = done;
    if (this.sessions.size === 0) done();
  }

  /** Grace is over: end every session that remains. */
  closeAll(): void {
    for (const session of [...this.sessions]) session.close("shutdown");
    if (this.#timer) clearInterval(this.#timer);
  }

  /** The Worker is crashing: reset every session, since what it was relaying can no longer be trusted to arrive whole. */
  resetAll(): void {
    if (this.#timer) clearInterval(this.#timer);
    for (const session of [...this.sessions]) session.close("worker_crash", true);
  }
}

/** The access log record: the fields HAProxy's `option tcplog` users look for, with our names. */
function accessRecord(s: Session, durationMs: number): Record<string, unknown> {
  const conn = s.conn;
  const up = s.assigner;
  return {
    time: new Date().toISOString(),
    level: "info",
    msg: "session",
    listener: s.listener.name,
    client: `${s.clientAddress}:${s.clientPort}`,
    upstream: up ? up.name : null,
    server: conn && up ? up.serverName(conn.server) : null,
    // The server's state as the session ends (down, ejected, draining... explain many endings).
    server_state: conn && up ? up.stateOf(conn.server) : null,
    bytes_in: s.bytesIn,
    bytes_out: s.bytesOut,
    connect_ms: s.connectMs < 0 ? null : Math.round(s.connectMs * 100) / 100,
    duration_ms: Math.round(durationMs * 100) / 100,
    attempts: s.attempts,
    end: s.endReason ?? "client_closed",
    ...(s.rejectReason ? { reason: s.rejectReason } : {}),
    ...(s.tls ? { sni: s.tls.sni, alpn: s.tls.alpn, tls_version: s.tls.version, client_cert: s.tls.clientCert } : {}),
    // Who the client is: the balancer that said so (HAProxy's fc_src), and where it is from, when known.
    ...(s.peer !== null ? { peer: s.peer } : {}),
    ...(s.knownCountry ? { country: s.knownCountry } : {}),
    ...(s.region !== null ? { region: s.region } : {}),
  };
}

/** The access record's facts for a program's on("session"). */
function sessionRecord(s: Session, durationMs: number, worker: number): SessionRecord {
  const conn = s.conn;
  const up = s.assigner;
  return {
    time: Date.now(),
    worker,
    listener: s.listener.name,
    client: `${s.clientAddress}:${s.clientPort}`,
    upstream: up ? up.name : null,
    server: conn && up ? up.serverName(conn.server) : null,
    bytesIn: s.bytesIn,
    bytesOut: s.bytesOut,
    durationMs,
    connectMs: s.connectMs < 0 ? null : s.connectMs,
    attempts: s.attempts,
    end: s.endReason ?? "client_closed",
    ...(s.rejectReason ? { reason: s.rejectReason } : {}),
  };
}

/** A connection refused at accept, before it became a session. */
function refusedRecord(listener: string, socket: Socket<Session | null>, why: string, worker: number): SessionRecord {
  return {
    time: Date.now(), worker, listener, client: `${socket.remoteAddress}:${socket.remotePort}`, upstream: null, server: null,
    bytesIn: 0, bytesOut: 0, durationMs: 0, connectMs: null, attempts: 0, end: "rejected", reason: why,
  };
}
