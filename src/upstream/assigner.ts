// Where a server is picked: one upstream as a Worker assigns it. Limits, the queue, the backup rule,
// the pool and the balancer all sit behind this; a session only asks, reports and gives back.
import type { TLSOptions } from "bun";
import { clientOptions, TLS_WARN_EVERY_MS, tlsFailureIndex, tlsFailureReason } from "./tls-connect.ts";
import { Latency, NO_EXCLUSIONS, type LatencyKind, type Balancer, type BalancerFactory, type PickContext, type ServerView } from "../balancing/balancer.ts";
import { QUEUE_DEFAULTS } from "../config/schema.ts";
import type { UpstreamConfig } from "../config/types.ts";
import { takesNewConnections, type ServerState } from "../health/server-state.ts";
import type { SharedAdmission } from "../admission/shared-region.ts";
import type { Recycler } from "../primitives/recycler.ts";
import type { QueuePool } from "../primitives/byte-queue.ts";
import type { IpWords } from "../net/ip.ts";
import type { TimerEntry, TimerWheel } from "../primitives/timer-wheel.ts";
import type { CounterSlots } from "../shared/layout.ts";
import { Logger, type Fields } from "../telemetry/log.ts";
import { UpstreamConn, upstreamHandlers, type UpstreamOwner } from "./conn.ts";
import { ServerLimits } from "./limits.ts";
import { ServerPool, type PoolHost } from "./pool.ts";
import { UpstreamQueue } from "./queue.ts";
import type { QueueWaker } from "./queue-waker.ts";
import { ServerCells, type ServerCellLayout } from "./server-cells.ts";
import { withBackups } from "./tiers.ts";
import { RegionTiers } from "./regions.ts";
import { Stickiness } from "./sticky.ts";
import type { StickTable } from "../stick/table.ts";

/** `assign` found no eligible server (all down, excluded or zero-weight). */
export const NO_SERVER = -1;
/** `assign` put the claim in the queue: every eligible server is full. `granted` follows, or a timeout. */
export const QUEUED = -2;
/** Every eligible server is full and so is the queue: refuse the client. */
export const QUEUE_FULL = -3;

/** What happened to a place given back by `release`. */
export const Outcome = {
  /** Held but never used: the client left, or the session waits for descriptors. */
  unused: 0,
  /** The connect failed or timed out: counted against the server (passive health). */
  connectFailed: 1,
  /** A relayed session left the server without the server failing it. */
  ok: 2,
  /** The server reset a relayed session while the client was there (passive health). */
  serverFailed: 3,
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** `connected` with this instead of a time: the session took a pooled socket, nothing to time. */
export const POOLED = -1;

/** What a session shows the assigner while it asks for a server. */
export interface Claim extends TimerEntry {
  readonly clientAddress: string;
  /** Servers this session must not get (it already failed to connect to them). */
  readonly exclude: readonly number[];
  /** The region whose servers its route prefers (prefer_region); null: none. */
  readonly region: string | null;
  /** The client's address parsed (null: it does not parse), for stickiness. */
  clientIp(): IpWords | null;
  /** The stick table entry the claim counts on (-1: none); only the assigner sets it. */
  stickSlot: number;
  /** True while in the queue; only the assigner sets it. */
  queued: boolean;
  /** The queue found it a server whose place it now holds (NO_SERVER: none is eligible any more). */
  granted(server: number): void;
  /** The claim entered (true) or left (false) the queue: pause the client, keep the gauge. */
  queueing(waiting: boolean): void;
}

/** Worker-wide facilities an assigner uses, passed in by the plane. */
export interface AssignerEnv {
  readonly recycler: Recycler;
  /** Queue objects for the sockets' directions that have bytes waiting. */
  readonly queues: QueuePool;
  /** The Worker's coarse clock (ms). */
  readonly now: number;
  readonly wheel: TimerWheel;
  readonly cells: Float64Array;
  readonly layout: ServerCellLayout & { readonly slots: CounterSlots };
  /** The Worker's logger, for the pool's warnings; without one they go out as JSON lines on stdout. */
  readonly logger?: Logger;
  /** A connect failed: true when this process is out of descriptors (not the server's fault); logs it. */
  shortOfDescriptors(): boolean;
  /** A server failed a connect or reset a session: tell the main thread (passive health). */
  reportFailure(upstream: number, server: number): void;
  /** The shared stick table of an upstream with `stick`, by upstream name (null: none was given). */
  stickTable?(upstream: string): StickTable | null;
}

/** The places all Workers share (server limits and queues), and who this Worker is. */
export interface SharedPlaces {
  readonly shared: SharedAdmission;
  readonly waker: QueueWaker;
  readonly worker: number;
}

const ignore = () => {};
let fallbackLogger: Logger | null = null;

export class Assigner implements PoolHost {
  readonly balancer: Balancer;
  readonly counters: ServerCells;
  readonly limits: ServerLimits;
  readonly queue: UpstreamQueue<Claim>;
  readonly queueTimeoutMs: number;
  readonly pools: ServerPool[] | null;
  #views: ServerView[];
  #states: readonly ServerState[];
  /** Which servers are backups: a backup never stands in for a primary that is only full. */
  readonly #backup: readonly boolean[];
  readonly #ctx: ClaimContext;
  readonly #waker: QueueWaker;
  /** Per server: Bun's TLS options, or null for plain TCP (the upstream has no `tls`). */
  readonly #tls: readonly TLSOptions[] | null;
  readonly #tlsWarnedAt: number[] = [];
  /** prefer_region's tiers; null when no server has a region. */
  readonly #regions: RegionTiers | null;
  /** stick: the shared table and how this upstream's servers are named in it; null without stick. */
  readonly #stick: Stickiness | null;

  /** `index`: position in the current config; -1 once a reload removed or replaced this upstream. */
  constructor(public index: number, readonly config: UpstreamConfig, algorithm: BalancerFactory, readonly env: AssignerEnv, places: SharedPlaces) {
    this.#views = config.servers.map((s) => ({ weight: s.weight, available: true, backup: s.backup }));
    this.#states = config.servers.map(() => "up");
    this.#backup = config.servers.map((s) => s.backup);
    this.balancer = withBackups(algorithm)(this.#views, Math.random);
    this.#regions = RegionTiers.of(config.servers, withBackups(algorithm), this.#views, Math.random);
    const table = config.stick ? env.stickTable?.(config.name) ?? null : null;
    this.#stick = table && config.stick ? new Stickiness(table, config.stick, config.servers) : null;
    this.counters = new ServerCells(env.cells, index, config.servers.length, env.layout);
    this.limits = new ServerLimits(config.servers, env.layout.slots.servers[index] ?? [], places.shared, places.worker);
    const q = config.queue ?? QUEUE_DEFAULTS; // a hand-built config (the demo, tests) may leave it out
    const queueCell = this.limits.any ? places.shared.queueCell(config.name) : -1;
    this.queue = new UpstreamQueue(places.shared, queueCell, q.size, places.worker);
    this.queueTimeoutMs = q.timeoutMs;
    this.#waker = places.waker;
    this.#ctx = new ClaimContext(this.limits, env);
    const tls = config.tls;
    this.#tls = tls ? config.servers.map((s) => clientOptions(tls, s.address)) : null;
    this.pools = config.pool > 0
      ? config.servers.map((_, s) => new ServerPool(s, config.pool, config.poolMaxIdleMs, config.connectTimeoutMs, this))
      : null;
  }

  get name(): string {
    return this.config.name;
  }

  get now(): number {
    return this.env.now;
  }

  // ---- the session's side ------------------------------------------------------------------

  /**
   * A server for `claim`, with a place on it now held (`release` gives it back), or NO_SERVER, or
   * QUEUED, or QUEUE_FULL. A newcomer does not overtake sessions already queued anywhere.
   */
  assign(claim: Claim): number {
    const server = this.#pick(claim, false);
    if (server !== QUEUED) return server;
    if (!this.queue.enter(claim)) return QUEUE_FULL;
    claim.queued = true;
    claim.queueing(true);
    this.env.wheel.schedule(claim, this.env.now + this.queueTimeoutMs);
    this.#waker.watch(this);
    return QUEUED;
  }

  /** The claim gives up its place in the queue (client gone, timed out). Safe when it is not queued. */
  withdraw(claim: Claim): void {
    if (!this.#dequeue(claim)) return;
    // Other Workers may have been waiting for this one's head: let them look again.
    if (this.limits.shared.queuedAnywhere() > this.queue.length) this.limits.shared.wake();
  }

  /** A pooled socket for `server`, if one is ready. */
  takePooled(server: number): UpstreamConn | null {
    return this.pools?.[server]?.take() ?? null;
  }

  /** Start a connect to `server` on behalf of `owner`; its outcome arrives through `upstreamHandlers` (no await). */
  dial(server: number, owner: UpstreamOwner): UpstreamConn {
    const conn = this.newConn(server);
    conn.owner = owner;
    this.connect(conn);
    return conn;
  }

  /** A session started relaying to `server`, after a connect of `ms` (POOLED: a pooled socket). */
  connected(server: number, ms: number): void {
    this.counters.opened(server);
    if (ms === POOLED) return;
    this.counters.connectTime(server, ms);
    this.#latency(server, Latency.connect, ms);
    this.pools?.[server]?.onSessionConnected();
  }

  /** The server's first reply came `ms` after the client's first bytes went to it. */
  replied(server: number, ms: number): void {
    this.#latency(server, Latency.reply, ms);
  }

  /** Give back the place `assign` (or `granted`) gave on `server`, saying what happened on it. */
  release(server: number, outcome: Outcome): void {
    this.#dropped(server);
    if (outcome === Outcome.connectFailed) {
      this.counters.connectError(server);
      this.pools?.[server]?.onSessionConnectFailed();
    } else if (outcome !== Outcome.unused) {
      this.counters.closed(server, outcome === Outcome.ok);
    }
    if (outcome === Outcome.connectFailed || outcome === Outcome.serverFailed) this.env.reportFailure(this.index, server);
    if (!this.limits.give(server)) return;
    if (this.queue.length > 0) this.pump();
    // Others wait (in other Workers, or for other upstreams): let them look for a place too.
    if (this.limits.shared.queuedAnywhere() > this.queue.length) this.limits.shared.wake();
  }

  /** A session relayed to `server` ended after `seconds`, accept to close. */
  finished(server: number, seconds: number): void {
    this.counters.sessionTime(server, seconds);
  }

  // ---- the control plane's side ------------------------------------------------------------

  /** Swap in the servers' states (only "up" takes new connections) and weights; sessions already placed are untouched. */
  apply(states: readonly ServerState[], weights?: readonly number[]): void {
    this.#states = this.#views.map((_, i) => states[i] ?? this.#states[i] ?? "up");
    this.#views = this.#views.map((v, i) => ({ ...v, available: takesNewConnections(this.#states[i]!), weight: weights?.[i] ?? v.weight }));
    this.balancer.update(this.#views);
    this.#regions?.update(this.#views);
    this.pools?.forEach((pool, i) => pool.setWanted(this.#views[i]!.available));
  }

  /** The server's state in the last snapshot, as the access log reports it. */
  stateOf(server: number): ServerState {
    return this.#states[server] ?? "up";
  }

  serverName(server: number): string {
    return this.config.servers[server]?.name ?? "?";
  }

  start(): void {
    if (this.pools) for (const pool of this.pools) pool.refill();
  }

  maintain(now: number): void {
    if (this.pools) for (const pool of this.pools) pool.maintain(now);
  }

  stop(): void {
    if (this.pools) for (const pool of this.pools) pool.stop();
  }

  // ---- the queue ---------------------------------------------------------------------------

  /**
   * Serve queued claims in arrival order while places are free and this Worker's head is the
   * oldest in the process (else another Worker's head is served first). Returns how many still wait.
   */
  pump(): number {
    for (let c = this.queue.head(); c && this.queue.headIsOldest(); c = this.queue.head()) {
      const server = this.#pick(c, true);
      if (server === QUEUED) break;
      this.#dequeue(c);
      c.granted(server); // replaces the queue timeout with the connect timeout
    }
    return this.queue.length;
  }

  #dequeue(claim: Claim): boolean {
    if (!claim.queued) return false;
    claim.queued = false;
    claim.queueing(false);
    this.queue.leave(claim);
    return true;
  }

  /**
   * A server with a place now held, NO_SERVER when none is eligible, or QUEUED when some are but
   * all are at their hard limit, or others already wait. Full servers are excluded for this pick
   * only, so the balancer moves on its own way. Backups take over from primaries that are down,
   * not from primaries that are full: once a primary is found full, the claim queues for it (as
   * HAProxy does) rather than spill to a backup.
   */
  #pick(claim: Claim, fromQueue: boolean): number {
    const ctx = this.#ctx.reset(claim);
    // A stuck client goes back to its server while that one takes new connections and has room.
    const sticky = this.#stick?.preferred(claim, this.#states, this.limits) ?? -1;
    if (sticky >= 0) return this.#stuck(claim, this.#took(sticky));
    if (!this.limits.any) return this.#stuck(claim, this.#took(this.#choose(ctx)));
    if (!fromQueue && this.queue.waitingAnywhere() > 0) return QUEUED;
    let full = false;
    let primaryFull = false;
    for (;;) {
      const server = this.#choose(ctx);
      if (server >= 0 && primaryFull && this.#backup[server]) return QUEUED;
      if (server >= 0 && !this.limits.take(server)) {
        full = true;
        if (!this.#backup[server]) primaryFull = true;
        ctx.exclude = [...ctx.exclude, server]; // allocates only when a server is full
        continue;
      }
      return server < 0 && full ? QUEUED : this.#stuck(claim, this.#took(server));
    }
  }

  /** The route's region first (while one of its servers can be picked), else the whole upstream. */
  #choose(ctx: ClaimContext): number {
    const region = ctx.claim.region;
    if (region !== null && this.#regions !== null) {
      const server = this.#regions.pick(region, ctx);
      if (server >= 0) return server;
    }
    return this.balancer.pick(ctx);
  }

  #took(server: number): number {
    if (server >= 0) {
      this.balancer.onTake?.(server);
      this.#regions?.onTake(server);
    }
    return server;
  }

  /**
   * Stick the claim's client to the server it got (with a place held). When another Worker stuck
   * the same client elsewhere a moment ago, follow it if that server can take the session now.
   */
  #stuck(claim: Claim, server: number): number {
    const stick = this.#stick;
    if (stick === null || server < 0) return server;
    const other = stick.bind(claim, server, this.#states, this.limits);
    if (other === server) return server;
    this.limits.give(server);
    this.#dropped(server);
    return this.#took(other);
  }

  /** The session is over: its client's entry counts one session fewer, and its ttl starts. */
  unstick(claim: Claim): void {
    this.#stick?.release(claim);
  }

  /** Entries of servers that no longer take new connections go at once (the main thread also sweeps them). */
  get stickiness(): Stickiness | null {
    return this.#stick;
  }

  #dropped(server: number): void {
    this.balancer.onDrop?.(server);
    this.#regions?.onDrop(server);
  }

  #latency(server: number, kind: LatencyKind, ms: number): void {
    this.balancer.onLatency?.(server, kind, ms, this.env.now);
    this.#regions?.onLatency(server, kind, ms, this.env.now);
  }

  // ---- the pool's host (see pool.ts) --------------------------------------------------------

  newConn(server: number): UpstreamConn {
    return new UpstreamConn(server, this.env.queues);
  }

  /** Open `conn`'s socket; its events go to whoever `conn` names (a session or a pool). */
  connect(conn: UpstreamConn): void {
    const address = this.config.servers[conn.server]!.address;
    const tls = this.#tls?.[conn.server];
    if (tls) conn.tlsFailed = this.#tlsFailed;
    Bun.connect({ hostname: address.host, port: address.port, allowHalfOpen: true, data: conn, socket: upstreamHandlers, ...(tls ? { tls } : {}) })
      .catch(ignore); // connectError has already handled it
  }

  /** A server's TLS handshake failed: counted (aegis_upstream_tls_failures_total) and said, at most every 10 s per server. */
  readonly #tlsFailed = (conn: UpstreamConn, code: string | undefined, message: string): void => {
    const reason = tlsFailureReason(code);
    this.counters.tlsFailure(conn.server, tlsFailureIndex(reason));
    const now = this.env.now;
    if (now - (this.#tlsWarnedAt[conn.server] ?? -Infinity) < TLS_WARN_EVERY_MS) return;
    this.#tlsWarnedAt[conn.server] = now;
    this.warn(conn.server, "TLS handshake with server failed: the connect counts as failed", { reason, error: code ? `${code}: ${message}` : message });
  };

  shortOfDescriptors(): boolean {
    return this.env.shortOfDescriptors();
  }

  countPoolConnectError(server: number): void {
    this.counters.connectError(server);
  }

  countPoolConnect(server: number): void {
    this.counters.poolConnected(server);
  }

  countPoolClosed(server: number): void {
    this.counters.poolClosed(server);
  }

  setPoolIdle(server: number, idle: number): void {
    this.counters.poolIdle(server, idle);
  }

  warn(server: number, msg: string, fields: Fields): void {
    const logger = this.env.logger ?? (fallbackLogger ??= new Logger("warn"));
    logger.warn(msg, { upstream: this.config.name, server: this.serverName(server), ...fields });
  }
}

/**
 * The claim as the balancer sees it, with this upstream's soft limits as `busy`. One per assigner,
 * reused for every pick (picks are synchronous and never nested), so a pick allocates nothing.
 */
class ClaimContext implements PickContext {
  claim!: Claim;
  exclude: readonly number[] = NO_EXCLUSIONS;

  constructor(readonly limits: ServerLimits, readonly env: { readonly now: number }) {}

  reset(claim: Claim): this {
    this.claim = claim;
    this.exclude = claim.exclude;
    return this;
  }

  /** Read only by algorithms that hash on it: on a live socket the read is a system call. */
  get clientAddress(): string {
    return this.claim.clientAddress;
  }

  get now(): number {
    return this.env.now;
  }

  busy(server: number): boolean {
    return this.limits.any && this.limits.busy(server);
  }
}
