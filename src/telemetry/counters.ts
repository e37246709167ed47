// Counters in one SharedArrayBuffer: a cache-line-aligned region per Worker, written only by that
// Worker with plain stores, summed by the main thread at scrape time. No locks anywhere.
//
// Cells are Float64: a 64-bit value that is exact up to 2^53 (9 PB of bytes), written with one
// aligned 8-byte store, so a racing reader sees the old or the new value, never half of each.
// Plain `+=` costs nothing and allocates nothing, unlike BigInt64Array with Atomics.add.
// The one cell that must be exact across Workers, the process-wide connection count used for
// admission, is an Int32 updated with Atomics (check and increment in one step).

import { CONNECT_HIST_CELLS, SESSION_HIST_CELLS } from "./histogram-cells.ts";
import { SharedAdmission, admissionBytes } from "../admission/shared-region.ts";
import type { Config } from "../config/types.ts";

/** Per-listener cells. */
export const L = {
  connections: 0,
  active: 1,
  rejectedMaxConnections: 2,
  rejectedNoServer: 3,
  rejectedShutdown: 4,
  bytesReceived: 5,
  bytesSent: 6,
  rejectedAcl: 7,
  rejectedPerIpLimit: 8,
  rejectedPerIpRate: 9,
  rejectedPerIpTableFull: 10,
  rejectedQueueFull: 11,
  rejectedQueueTimeout: 12,
  /** Gauge: sessions waiting in an upstream queue (admission). */
  queued: 13,
  /** Refused because the process is out of file descriptors, or would be (the open-file limit). */
  rejectedFdLimit: 14,
} as const;
export const LISTENER_CELLS = 15;
export const REJECT_REASONS = [
  ["max_connections", L.rejectedMaxConnections],
  ["no_server", L.rejectedNoServer],
  ["shutdown", L.rejectedShutdown],
  ["acl", L.rejectedAcl],
  ["per_ip_limit", L.rejectedPerIpLimit],
  ["per_ip_rate", L.rejectedPerIpRate],
  ["per_ip_table_full", L.rejectedPerIpTableFull],
  ["queue_full", L.rejectedQueueFull],
  ["queue_timeout", L.rejectedQueueTimeout],
  ["fd_limit", L.rejectedFdLimit],
] as const;

/** Per-server cells (one set per upstream server). */
export const S = {
  connections: 0,
  active: 1,
  connectErrors: 2,
  poolIdle: 3,
  /** Sessions that ended without the server failing them (no reset): passive checks' successes. */
  sessionsOk: 4,
  /** Pooled sockets connected (aegis_upstream_pool_connections_total). */
  poolConnections: 5,
  /** Idle pooled sockets the server closed before a client used them (aegis_upstream_pool_closed_total). */
  poolClosed: 6,
} as const;
export const SERVER_CELLS = 7;

const CACHE_LINE_CELLS = 8; // 64 bytes of Float64
const HEADER_BYTES = 64; // the admission Int32 sits alone on the first cache line

/**
 * Stable places for each listener's and server's cells. They are kept by name across reloads, so
 * totals continue and sessions started under an older config keep writing to valid cells.
 */
export interface CounterSlots {
  /** Slot of each listener of the current config, by listener index. */
  listeners: number[];
  /** Slot of each server of the current config, by upstream and server index. */
  servers: number[][];
  listenerCapacity: number;
  serverCapacity: number;
}

/** Where each cell lives; computed identically by the main thread and every Worker. */
export class CounterLayout {
  readonly stride: number;
  readonly listenerCount: number;
  readonly #serverStart: number;
  readonly #connectHistStart: number;
  readonly #sessionHistStart: number;
  readonly #serverSessionHistStart: number;

  constructor(readonly slots: CounterSlots, readonly workers: number) {
    this.listenerCount = slots.listeners.length;
    this.#serverStart = slots.listenerCapacity * LISTENER_CELLS;
    this.#connectHistStart = this.#serverStart + slots.serverCapacity * SERVER_CELLS;
    this.#sessionHistStart = this.#connectHistStart + slots.serverCapacity * CONNECT_HIST_CELLS;
    this.#serverSessionHistStart = this.#sessionHistStart + slots.listenerCapacity * SESSION_HIST_CELLS;
    const cells = this.#serverSessionHistStart + slots.serverCapacity * SESSION_HIST_CELLS;
    this.stride = Math.ceil(cells / CACHE_LINE_CELLS) * CACHE_LINE_CELLS || CACHE_LINE_CELLS;
  }

  get byteLength(): number {
    return this.admissionOffset + admissionBytes(this.slots.serverCapacity, this.workers);
  }

  /** Where the shared admission state (src/admission/shared-region.ts) starts, after every Worker's counters. */
  get admissionOffset(): number {
    return HEADER_BYTES + this.stride * this.workers * 8;
  }

  allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(this.byteLength);
  }

  #listenerSlot(listener: number): number {
    const slot = this.slots.listeners[listener];
    if (slot === undefined) throw new RangeError(`no counters for listener ${listener}`);
    return slot;
  }

  #serverSlot(upstream: number, server: number): number {
    const slot = this.slots.servers[upstream]?.[server];
    if (slot === undefined) throw new RangeError(`no counters for upstream ${upstream} server ${server}`);
    return slot;
  }

  /** Index of a listener's first cell inside one Worker's region. */
  listenerBase(listener: number): number {
    return this.#listenerSlot(listener) * LISTENER_CELLS;
  }

  serverBase(upstream: number, server: number): number {
    return this.#serverStart + this.#serverSlot(upstream, server) * SERVER_CELLS;
  }

  /** First cell of a server's connect-latency histogram (see histogram-cells.ts). */
  connectHistBase(upstream: number, server: number): number {
    return this.#connectHistStart + this.#serverSlot(upstream, server) * CONNECT_HIST_CELLS;
  }

  /** First cell of a listener's session-duration histogram. */
  sessionHistBase(listener: number): number {
    return this.#sessionHistStart + this.#listenerSlot(listener) * SESSION_HIST_CELLS;
  }

  /** First cell of the session-duration histogram of the sessions relayed to one server. */
  serverSessionHistBase(upstream: number, server: number): number {
    return this.#serverSessionHistStart + this.#serverSlot(upstream, server) * SESSION_HIST_CELLS;
  }
}

/** One Worker's writable view: `cells[base + field] += n`. */
export function workerCells(sab: SharedArrayBuffer, layout: CounterLayout, worker: number): Float64Array {
  return new Float64Array(sab, HEADER_BYTES + worker * layout.stride * 8, layout.stride);
}

/** The process-wide count of admitted client connections, shared by all Workers. */
export function admissionCell(sab: SharedArrayBuffer): Int32Array {
  return new Int32Array(sab, 0, 1);
}

/**
 * Try to admit one connection. The check and the increment are one compare-and-swap, so the
 * count never passes `max` and no Worker refuses because of another's transient increment.
 */
export function tryAdmit(cell: Int32Array, max: number): boolean {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const current = Atomics.load(cell, 0);
    if (current >= max) return false;
    if (Atomics.compareExchange(cell, 0, current, current + 1) === current) return true;
  }
  return false; // pathological contention: refusing is the safe answer
}

export function release(cell: Int32Array): void {
  Atomics.sub(cell, 0, 1);
}

/** Main-thread reader: sums one cell over every Worker's region. */
export class CounterReader {
  readonly #all: Float64Array;
  #admission: SharedAdmission | null = null;
  constructor(readonly sab: SharedArrayBuffer, readonly layout: CounterLayout) {
    this.#all = new Float64Array(sab, HEADER_BYTES, layout.stride * layout.workers);
  }

  /**
   * aegis_per_ip_entries and aegis_per_ip_capacity, for /metrics and /metrics.json alike; null when
   * no listener has a per-IP cap or rate (the table is then never used).
   */
  perIp(config: Config): { entries: number; capacity: number } | null {
    if (!config.listeners.some((l) => l.admission && (l.admission.maxConnectionsPerIp > 0 || l.admission.connectionRatePerIp))) return null;
    const table = this.admission.ipTable;
    return { entries: table.live((performance.timeOrigin + performance.now()) * 1000), capacity: table.slots };
  }

  /** The admission state all Workers share (per-IP table, server places, queues). */
  get admission(): SharedAdmission {
    return (this.#admission ??= new SharedAdmission(this.sab, this.layout.admissionOffset, this.layout.slots.serverCapacity, this.layout.workers));
  }

  sum(cell: number): number {
    let total = 0;
    for (let w = 0; w < this.layout.workers; w++) total += this.#all[w * this.layout.stride + cell] ?? 0;
    return total;
  }

  listener(listener: number, field: number): number {
    return this.sum(this.layout.listenerBase(listener) + field);
  }

  server(upstream: number, server: number, field: number): number {
    return this.sum(this.layout.serverBase(upstream, server) + field);
  }
}
