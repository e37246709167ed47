// One upstream as a Worker sees it: its balancer, its servers' pools and counters, and how to dial.
import { BALANCERS } from "../balancing/index.ts";
import { Latency, type Balancer, type ServerView } from "../balancing/balancer.ts";
import type { UpstreamConfig } from "../config/types.ts";
import { takesNewConnections, type ServerState } from "../health/server-state.ts";
import { CONNECT_BUCKETS, S, SESSION_BUCKETS } from "../shared/layout.ts";
import { observe } from "../telemetry/histogram-cells.ts";
import { Logger, type Fields } from "../telemetry/log.ts";
import type { Recycler } from "./recycler.ts";
import { ServerPool, type PoolHost } from "./upstream-pool.ts";
import { UpstreamConn, upstreamHandlers } from "./upstream-conn.ts";

/** Worker-wide facilities an upstream uses. */
export interface UpstreamEnv {
  readonly recycler: Recycler;
  readonly cells: Float64Array;
  readonly queueCapacity: number;
  readonly now: number;
  /** The Worker's logger, for the pool's warnings; without one they go out as JSON lines on stdout. */
  readonly logger?: Logger;
  serverBase(upstream: number, server: number): number;
  connectHistBase(upstream: number, server: number): number;
  serverSessionHistBase(upstream: number, server: number): number;
  /** A connect failed: true when this process is out of descriptors (not the server's fault); logs it. */
  shortOfDescriptors(): boolean;
}

const ignore = () => {};
let fallbackLogger: Logger | null = null;

export class UpstreamRuntime implements PoolHost {
  readonly balancer: Balancer;
  views: ServerView[];
  readonly pools: ServerPool[] | null;
  readonly #bases: number[];
  readonly #connectHist: number[];
  readonly #sessionHist: number[];
  #states: readonly ServerState[];

  /** Position in the current config; -1 once a reload removed or replaced this upstream. */
  constructor(public index: number, readonly config: UpstreamConfig, readonly env: UpstreamEnv) {
    this.views = config.servers.map((s) => ({ weight: s.weight, available: true, backup: s.backup }));
    this.#states = config.servers.map(() => "up");
    this.balancer = BALANCERS[config.balance](this.views, Math.random);
    this.#bases = config.servers.map((_, s) => env.serverBase(index, s));
    this.#connectHist = config.servers.map((_, s) => env.connectHistBase(index, s));
    this.#sessionHist = config.servers.map((_, s) => env.serverSessionHistBase(index, s));
    this.pools = config.pool > 0
      ? config.servers.map((_, s) => new ServerPool(s, config.pool, config.poolMaxIdleMs, config.connectTimeoutMs, this))
      : null;
  }

  /** Swap in the servers' states (only "up" takes new connections) and weights; sessions already placed are untouched. */
  applySnapshot(states: readonly ServerState[], weights?: readonly number[]): void {
    this.#states = this.views.map((_, i) => states[i] ?? this.#states[i] ?? "up");
    this.views = this.views.map((v, i) => ({ ...v, available: takesNewConnections(this.#states[i]!), weight: weights?.[i] ?? v.weight }));
    this.balancer.update(this.views);
    this.pools?.forEach((pool, i) => pool.setWanted(this.views[i]!.available));
  }

  /** The server's state in the last snapshot, as the access log reports it. */
  stateOf(server: number): ServerState {
    return this.#states[server] ?? "up";
  }

  get now(): number {
    return this.env.now;
  }

  serverName(server: number): string {
    return this.config.servers[server]?.name ?? "?";
  }

  newConn(server: number): UpstreamConn {
    return new UpstreamConn(server, this.env.recycler, this.env.queueCapacity);
  }

  /** Start a connect; its outcome arrives through `upstreamHandlers` (no await on the data path). */
  dial(conn: UpstreamConn): void {
    const address = this.config.servers[conn.server]!.address;
    Bun.connect({
      hostname: address.host,
      port: address.port,
      allowHalfOpen: true,
      data: conn,
      socket: upstreamHandlers,
    }).catch(ignore); // connectError has already handled it
  }

  /** A pooled socket for `server`, if one is ready. */
  takePooled(server: number): UpstreamConn | null {
    return this.pools?.[server]?.take() ?? null;
  }

  /** A session's connect to `server` failed: counted, and its pool stops dialling for a while. */
  countConnectError(server: number): void {
    this.env.cells[this.#bases[server]! + S.connectErrors]! += 1;
    this.pools?.[server]?.onSessionConnectFailed();
  }

  shortOfDescriptors(): boolean {
    return this.env.shortOfDescriptors();
  }

  countPoolConnectError(server: number): void {
    this.env.cells[this.#bases[server]! + S.connectErrors]! += 1;
  }

  countPoolConnect(server: number): void {
    this.env.cells[this.#bases[server]! + S.poolConnections]! += 1;
  }

  countPoolClosed(server: number): void {
    this.env.cells[this.#bases[server]! + S.poolClosed]! += 1;
  }

  warn(server: number, msg: string, fields: Fields): void {
    const logger = this.env.logger ?? (fallbackLogger ??= new Logger("warn"));
    logger.warn(msg, { upstream: this.config.name, server: this.serverName(server), ...fields });
  }

  setPoolIdle(server: number, idle: number): void {
    this.env.cells[this.#bases[server]! + S.poolIdle] = idle;
  }

  /** A connect to `server` took `ms`: into its latency histogram and the balancer's view. */
  observeConnect(server: number, ms: number, now: number): void {
    observe(this.env.cells, this.#connectHist[server]!, CONNECT_BUCKETS, ms / 1000);
    this.balancer.onLatency(server, Latency.connect, ms, now);
    this.pools?.[server]?.onSessionConnected();
  }

  /** A session relayed to `server` ended after `seconds`, accept to close. */
  observeSession(server: number, seconds: number): void {
    observe(this.env.cells, this.#sessionHist[server]!, SESSION_BUCKETS, seconds);
  }

  countOpen(server: number): void {
    const base = this.#bases[server]!;
    this.env.cells[base + S.connections]! += 1;
    this.env.cells[base + S.active]! += 1;
    this.balancer.onOpen(server);
  }

  /** A relayed connection to `server` ended; `failed`: the server reset it while the client was there. */
  countClose(server: number, failed: boolean): void {
    const base = this.#bases[server]!;
    this.env.cells[base + S.active]! -= 1;
    if (!failed) this.env.cells[base + S.sessionsOk]! += 1;
    this.balancer.onClose(server);
  }

  startPools(): void {
    if (this.pools) for (const pool of this.pools) pool.refill();
  }

  maintainPools(now: number): void {
    if (this.pools) for (const pool of this.pools) pool.maintain(now);
  }

  stopPools(): void {
    if (this.pools) for (const pool of this.pools) pool.stop();
  }
}
