// Reading the per-Worker counters on the main thread: one cell summed over every Worker's slot, at
// scrape time. Where the cells live is src/shared/layout.ts; Workers write them with plain stores.
//
// Cells are Float64: a 64-bit value that is exact up to 2^53 (9 PB of bytes), written with one
// aligned 8-byte store, so a racing reader sees the old or the new value, never half of each.
// Plain `+=` costs nothing and allocates nothing, unlike BigInt64Array with Atomics.add.
import { L, allCounterCells, type CounterLayout } from "../shared/layout.ts";

/** The reasons aegis_connections_rejected_total is labelled with, and the listener cell each counts in. */
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
  ["tls_inspect", L.rejectedTlsInspect],
  ["tls_handshake", L.tlsHandshakeFailures],
  ["proxy_protocol", L.rejectedProxyProtocol],
] as const;

/** Main-thread reader: sums one cell over every Worker's slot. */
export class CounterReader {
  readonly #all: Float64Array;
  constructor(readonly sab: SharedArrayBuffer, readonly layout: CounterLayout) {
    this.#all = allCounterCells(sab, layout.map);
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
