// Pre-connected sockets to one server, kept per Worker so a new session skips the connect round trip.
//
// A pooled socket is a connection aegis opened and does not speak on, so it must never hold a server
// up. PostgreSQL forks a child for each one; at a crash restart or a fast shutdown the postmaster waits
// for every child, and one accepted in the meantime waits for a startup packet until
// authentication_timeout (60 s). So a pooled socket the server closes is read as "this server is
// restarting": every other idle socket to it is closed at once, dials in flight are dropped, and
// nothing is dialled again until a quiet period has passed (1 s, doubling while it keeps happening).
//
// Nor does an unused pool churn: every pooled socket that ages out unused is a handshake the server
// sees abandoned (MySQL and MariaDB count it against aegis's address up to max_connect_errors,
// PostgreSQL logs an incomplete startup packet). So one is replaced only while sessions come; after
// pool_max_idle without any, the pool empties and the next session fills it again.
import type { IdleKeeper, UpstreamConn } from "./conn.ts";

/** What a pool needs from its upstream: open a socket, count and log what happens, make a conn. */
export interface PoolHost {
  connect(conn: UpstreamConn): void;
  newConn(server: number): UpstreamConn;
  /** A dial failed: true when the cause was this process running out of descriptors, not the server. */
  shortOfDescriptors(): boolean;
  /** A pool dial failed or timed out (aegis_upstream_connect_errors_total). */
  countPoolConnectError(server: number): void;
  /** A pool dial connected (aegis_upstream_pool_connections_total). */
  countPoolConnect(server: number): void;
  /** The server closed an idle pooled socket (aegis_upstream_pool_closed_total). */
  countPoolClosed(server: number): void;
  setPoolIdle(server: number, idle: number): void;
  /** A warning for the operator; the pool limits how often it calls this. */
  warn(server: number, msg: string, fields: Record<string, unknown>): void;
  readonly now: number;
}

/** A greeting larger than this (bytes a server sends unprompted) pauses the pooled socket. */
const GREETING_PAUSE = 64 * 1024;
/** The limit of a pooled socket's greeting queue until a session takes it and sets its own buffer_limit. */
const GREETING_LIMIT = 256 * 1024;
/** After failed dials: 500 ms, doubling per failure in a row, up to BACKOFF_MAX_MS. */
const DIAL_BACKOFF_MIN_MS = 500;
/** After the server closed pooled sockets: 1 s (a crash restart of a small PostgreSQL takes ~0.1-0.5 s), doubling. */
export const QUIET_MIN_MS = 1000;
export const BACKOFF_MAX_MS = 30_000;
/** A server that has not closed a pooled socket for this long starts again from QUIET_MIN_MS. */
const CLOSES_FORGOTTEN_MS = 60_000;
/** At most one warning per pool this often. */
export const WARN_EVERY_MS = 60_000;

const backoff = (min: number, strikes: number) => Math.min(BACKOFF_MAX_MS, min * 2 ** Math.min(strikes - 1, 16));

export class ServerPool implements IdleKeeper {
  readonly #idle: UpstreamConn[] = [];
  /** Dials in flight, each with the coarse time it started (in idleSince), for the connect timeout. */
  readonly #dialing: UpstreamConn[] = [];
  /** Failed dials in a row; a connect that works (pooled or a session's) ends the run. */
  #dialFailures = 0;
  #dialRetryAt = 0;
  /** Times in a row the server closed pooled sockets; forgotten after a quiet minute or a socket kept to its max idle age. */
  #closes = 0;
  #lastCloseAt = -Infinity;
  #quietUntil = 0;
  #warnedAt = -Infinity;
  /** When a session last came for this server (took a pooled socket or found none); start counts as one. */
  #demandAt: number;
  /** No session for pool_max_idle: aged sockets are not replaced until the next one comes. */
  #dormant = false;
  #stopped = false;
  /** False while the server takes no new connections (down, ejected, draining, disabled). */
  #wanted = true;

  constructor(
    readonly server: number,
    readonly size: number,
    readonly maxIdleMs: number,
    readonly connectTimeoutMs: number,
    readonly host: PoolHost,
  ) {
    this.#demandAt = host.now;
  }

  get idleCount(): number {
    return this.#idle.length;
  }

  /** Until when nothing is dialled (0: no wait); for tests and views. */
  get retryAt(): number {
    return Math.max(this.#dialRetryAt, this.#quietUntil);
  }

  /** An open idle socket, or null (the session then dials itself). The caller becomes its owner. */
  take(): UpstreamConn | null {
    this.#demandAt = this.host.now;
    const conn = this.#idle.pop() ?? null;
    if (conn) {
      conn.keeper = null;
      this.host.setPoolIdle(this.server, this.#idle.length);
    }
    this.#dormant = false;
    this.refill();
    return conn;
  }

  /**
   * Top up to `size`, unless the server takes no new connections, failed dials are backing off, or
   * the server was just seen closing pooled sockets (restarting).
   */
  refill(): void {
    if (this.#stopped || this.#dormant || !this.#wanted || this.host.now < this.retryAt) return;
    while (this.#idle.length + this.#dialing.length < this.size) {
      const conn = this.host.newConn(this.server);
      conn.keeper = this;
      conn.idleSince = this.host.now;
      this.#dialing.push(conn);
      this.host.connect(conn);
    }
  }

  /**
   * Follow the server's state: idle sockets to a server that is draining, disabled, down or
   * ejected only keep it busy (a drained server must reach zero connections), so they are
   * closed, and the pool fills again when the server is back up.
   */
  setWanted(wanted: boolean): void {
    if (wanted === this.#wanted) return;
    this.#wanted = wanted;
    if (wanted) return this.refill();
    this.#closeAll(false);
  }

  /**
   * A session's own connect to this server worked: it listens again, so failed pool dials need not
   * wait out their backoff. (A quiet period after the server closed pooled sockets still runs: a
   * restarting PostgreSQL accepts TCP connections and forks children that hold its restart.)
   */
  onSessionConnected(): void {
    if (this.#dialFailures === 0) return;
    this.#dialFailures = 0;
    this.#dialRetryAt = 0;
  }

  /** A session's connect to this server failed: it is down or restarting, so stop dialling and drop the idle sockets. */
  onSessionConnectFailed(): void {
    this.#dialFailed();
  }

  /**
   * Recycle sockets idle past their age, so a server's own idle timeout never bites a client (and
   * replace them only if a session came within that age), and give up on dials older than the
   * connect timeout (a server that drops SYNs would otherwise hold the pool's places for the
   * kernel's two minutes).
   */
  maintain(now: number): void {
    let aged = 0;
    for (let i = this.#idle.length - 1; i >= 0; i--) {
      const conn = this.#idle[i]!;
      if (now - conn.idleSince < this.maxIdleMs) continue;
      aged++;
      // The server kept it for its whole max idle age: pooled sockets are welcome there.
      this.#closes = 0;
      this.#idle.splice(i, 1);
      conn.keeper = null; // aegis closes it: not a sign of the server restarting
      conn.dropToClient();
      conn.socket?.end();
    }
    this.host.setPoolIdle(this.server, this.#idle.length);
    if (aged > 0 && now - this.#demandAt >= this.maxIdleMs) this.#dormant = true;
    let timedOut = 0;
    for (let i = this.#dialing.length - 1; i >= 0; i--) {
      const conn = this.#dialing[i]!;
      if (now - conn.idleSince < this.connectTimeoutMs) continue;
      this.#dialing.splice(i, 1);
      conn.discard(); // no keeper now: if the connect completes after all, the socket is closed
      this.host.countPoolConnectError(this.server);
      timedOut++;
    }
    if (timedOut > 0) this.#dialFailed();
    this.refill();
  }

  /** Stop refilling and close every idle socket (shutdown or removal). */
  stop(): void {
    this.#stopped = true;
    this.#closeAll(false);
  }

  onOpen(conn: UpstreamConn): void {
    this.#dialed(conn);
    this.host.countPoolConnect(this.server);
    this.#dialFailures = 0;
    this.#dialRetryAt = 0;
    if (this.#stopped || !this.#wanted) return conn.discard();
    conn.idleSince = this.host.now;
    this.#idle.push(conn);
    this.host.setPoolIdle(this.server, this.#idle.length);
  }

  onConnectFailed(conn: UpstreamConn): void {
    this.#dialed(conn);
    conn.keeper = null;
    // Out of descriptors is ours, not the server's: not counted against it, but still waited out.
    if (!this.host.shortOfDescriptors()) this.host.countPoolConnectError(this.server);
    this.#dialFailed();
  }

  onGreeting(conn: UpstreamConn, data: Buffer): void {
    conn.queueToClient(GREETING_LIMIT).push(data, 0);
    if (conn.toClient.size >= GREETING_PAUSE) conn.socket?.pause();
  }

  /** The server closed (or reset) an idle pooled socket: aegis never does while it keeps one. */
  onClosed(conn: UpstreamConn): void {
    const now = this.host.now;
    const idleMs = now - conn.idleSince;
    const at = this.#idle.indexOf(conn);
    if (at >= 0) this.#idle.splice(at, 1);
    conn.keeper = null;
    conn.dropToClient();
    this.host.countPoolClosed(this.server);
    // Every other idle socket to it goes now: a restarting server may be waiting for them.
    const closed = 1 + this.#closeAll(true);
    if (now - this.#lastCloseAt > CLOSES_FORGOTTEN_MS) this.#closes = 0;
    this.#lastCloseAt = now;
    const quietMs = backoff(QUIET_MIN_MS, ++this.#closes);
    this.#quietUntil = Math.max(this.#quietUntil, now + quietMs);
    if (now - this.#warnedAt >= WARN_EVERY_MS) {
      this.#warnedAt = now;
      this.host.warn(this.server, "server closed idle pooled sockets; not refilling the pool for a while", {
        closed,
        idle_ms: Math.round(idleMs),
        retry_in_ms: quietMs,
        max_idle_ms: this.maxIdleMs,
        hint: "normal once while the server restarts; if it keeps happening, the server's handshake or idle timeout is below pool_max_idle: lower pool_max_idle under it, or set pool = 0",
      });
    }
  }

  #dialed(conn: UpstreamConn): void {
    const at = this.#dialing.indexOf(conn);
    if (at >= 0) this.#dialing.splice(at, 1);
  }

  /**
   * A connect to the server failed: back off (one step per round of dials, however many of them
   * fail), and drop the idle sockets (a server that refuses or does not answer is down or restarting).
   */
  #dialFailed(): void {
    const now = this.host.now;
    if (now >= this.#dialRetryAt) this.#dialRetryAt = now + backoff(DIAL_BACKOFF_MIN_MS, ++this.#dialFailures);
    this.#closeAll(false);
  }

  /** Close every idle socket, and with `dials` drop the dials in flight too; returns how many idle ones were closed. */
  #closeAll(dials: boolean): number {
    const idle = this.#idle.splice(0);
    for (const conn of idle) conn.discard();
    if (dials) for (const conn of this.#dialing.splice(0)) conn.discard();
    this.host.setPoolIdle(this.server, 0);
    return idle.length;
  }
}
