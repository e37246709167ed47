// The counter cells of one upstream's servers in this Worker's region: where every per-server count is bumped.
import { CONNECT_BUCKETS, S, SESSION_BUCKETS } from "../shared/layout.ts";
import { observe } from "../telemetry/histogram-cells.ts";

/** Where a server's cells start, from the Worker's current counter layout. */
export interface ServerCellLayout {
  serverBase(upstream: number, server: number): number;
  connectHistBase(upstream: number, server: number): number;
  serverSessionHistBase(upstream: number, server: number): number;
}

export class ServerCells {
  readonly #bases: Int32Array;
  readonly #connectHist: Int32Array;
  readonly #sessionHist: Int32Array;

  /** Bases are looked up once: the layout keeps a server's slot for as long as its upstream exists. */
  constructor(readonly cells: Float64Array, upstream: number, servers: number, layout: ServerCellLayout) {
    const each = (f: (s: number) => number) => Int32Array.from({ length: servers }, (_, s) => f(s));
    this.#bases = each((s) => layout.serverBase(upstream, s));
    this.#connectHist = each((s) => layout.connectHistBase(upstream, s));
    this.#sessionHist = each((s) => layout.serverSessionHistBase(upstream, s));
  }

  /** The first cell of `server`'s: a session adds its bytes at `base + S.bytesReceived` itself, per chunk, without a call. */
  base(server: number): number {
    return this.#bases[server]!;
  }

  /** A session started relaying to `server` (aegis_upstream_connections_total, active). */
  opened(server: number): void {
    const base = this.#bases[server]!;
    this.cells[base + S.connections]! += 1;
    this.cells[base + S.active]! += 1;
  }

  /** A relayed session left `server`; `ok` when the server did not fail it (a passive check's success). */
  closed(server: number, ok: boolean): void {
    const base = this.#bases[server]!;
    this.cells[base + S.active]! -= 1;
    if (ok) this.cells[base + S.sessionsOk]! += 1;
  }

  connectError(server: number): void {
    this.cells[this.#bases[server]! + S.connectErrors]! += 1;
  }

  /** `reason`: its index in TLS_FAILURE_REASONS. */
  tlsFailure(server: number, reason: number): void {
    this.cells[this.#bases[server]! + S.tlsFailures + reason]! += 1;
  }

  poolConnected(server: number): void {
    this.cells[this.#bases[server]! + S.poolConnections]! += 1;
  }

  poolClosed(server: number): void {
    this.cells[this.#bases[server]! + S.poolClosed]! += 1;
  }

  poolIdle(server: number, idle: number): void {
    this.cells[this.#bases[server]! + S.poolIdle] = idle;
  }

  connectTime(server: number, ms: number): void {
    observe(this.cells, this.#connectHist[server]!, CONNECT_BUCKETS, ms / 1000);
  }

  sessionTime(server: number, seconds: number): void {
    observe(this.cells, this.#sessionHist[server]!, SESSION_BUCKETS, seconds);
  }
}
