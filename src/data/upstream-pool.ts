// Pre-connected sockets to one server, kept per Worker so a new session skips the connect round trip.
import type { IdleKeeper, UpstreamConn } from "./upstream-conn.ts";

/** What a pool needs from its upstream: open a socket, count a failure, make a conn. */
export interface PoolHost {
  dial(conn: UpstreamConn): void;
  newConn(server: number): UpstreamConn;
  countConnectError(server: number): void;
  setPoolIdle(server: number, idle: number): void;
  readonly now: number;
}

/** A greeting larger than this (bytes a server sends unprompted) pauses the pooled socket. */
const GREETING_PAUSE = 64 * 1024;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 30_000;

export class ServerPool implements IdleKeeper {
  readonly #idle: UpstreamConn[] = [];
  /** Dials in flight, each with the coarse time it started (in idleSince), for the connect timeout. */
  readonly #dialing: UpstreamConn[] = [];
  #failures = 0;
  #retryAt = 0;
  #stopped = false;
  /** False while the server takes no new connections (down, ejected, draining, disabled). */
  #wanted = true;

  constructor(
    readonly server: number,
    readonly size: number,
    readonly maxIdleMs: number,
    readonly connectTimeoutMs: number,
    readonly host: PoolHost,
  ) {}

  get idleCount(): number {
    return this.#idle.length;
  }

  /** An open idle socket, or null. The caller becomes its owner. */
  take(): UpstreamConn | null {
    const conn = this.#idle.pop() ?? null;
    if (conn) {
      conn.keeper = null;
      this.host.setPoolIdle(this.server, this.#idle.length);
      this.refill();
    }
    return conn;
  }

  /** Top up to `size`, unless the server takes no new connections or the backoff has not passed. */
  refill(): void {
    if (this.#stopped || !this.#wanted || this.host.now < this.#retryAt) return;
    while (this.#idle.length + this.#dialing.length < this.size) {
      const conn = this.host.newConn(this.server);
      conn.keeper = this;
      conn.idleSince = this.host.now;
      this.#dialing.push(conn);
      this.host.dial(conn);
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
    for (const conn of this.#idle.splice(0)) conn.discard();
    this.host.setPoolIdle(this.server, 0);
  }

  /**
   * Recycle sockets idle past their age, so a server's own idle timeout never bites a client, and
   * give up on dials older than the connect timeout (a server that drops SYNs would otherwise hold
   * the pool's places for the kernel's two minutes).
   */
  maintain(now: number): void {
    for (let i = this.#idle.length - 1; i >= 0; i--) {
      const conn = this.#idle[i]!;
      if (now - conn.idleSince >= this.maxIdleMs) conn.socket?.end(); // onClosed removes it
    }
    for (let i = this.#dialing.length - 1; i >= 0; i--) {
      const conn = this.#dialing[i]!;
      if (now - conn.idleSince < this.connectTimeoutMs) continue;
      this.#dialing.splice(i, 1);
      conn.discard(); // no keeper now: if the connect completes after all, the socket is closed
      this.host.countConnectError(this.server);
      this.#backOff();
    }
    this.refill();
  }

  /** Stop refilling and close every idle socket (shutdown or removal). */
  stop(): void {
    this.#stopped = true;
    for (const conn of this.#idle.splice(0)) conn.discard();
    this.host.setPoolIdle(this.server, 0);
  }

  onOpen(conn: UpstreamConn): void {
    this.#dialed(conn);
    this.#failures = 0;
    if (this.#stopped || !this.#wanted) return conn.discard();
    conn.idleSince = this.host.now;
    this.#idle.push(conn);
    this.host.setPoolIdle(this.server, this.#idle.length);
  }

  onConnectFailed(conn: UpstreamConn): void {
    this.#dialed(conn);
    conn.keeper = null;
    this.host.countConnectError(this.server);
    this.#backOff();
  }

  onGreeting(conn: UpstreamConn, data: Buffer): void {
    if (!conn.toClient.push(data, 0)) return this.#remove(conn, true);
    if (conn.toClient.size >= GREETING_PAUSE) conn.socket?.pause();
  }

  onClosed(conn: UpstreamConn): void {
    // A server that closes pooled sockets at once must not turn refilling into a busy loop.
    if (this.host.now - conn.idleSince < 1000) this.#backOff();
    this.#remove(conn, false);
  }

  #dialed(conn: UpstreamConn): void {
    const at = this.#dialing.indexOf(conn);
    if (at >= 0) this.#dialing.splice(at, 1);
  }

  #backOff(): void {
    this.#failures++;
    const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(this.#failures, 16));
    this.#retryAt = this.host.now + backoff;
  }

  #remove(conn: UpstreamConn, close: boolean): void {
    const at = this.#idle.indexOf(conn);
    if (at >= 0) this.#idle.splice(at, 1);
    this.host.setPoolIdle(this.server, this.#idle.length);
    if (close) conn.discard();
    else {
      conn.keeper = null;
      conn.toClient.clear();
    }
    this.refill();
  }
}
