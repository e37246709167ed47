// The one map of the SharedArrayBuffer the main thread and every Worker share: where each region and
// each cell lives. No other file computes an offset into it.
//
//   header      one cache line: the process-wide count of admitted connections (Int32)
//   counters    one slot per Worker (Float64 cells, cache-line strided), written only by that Worker
//   admission   its header (wake word, queued total, per-IP hash seed), server places, queue names,
//               queues, what each Worker holds, the per-IP counts each Worker holds, the per-IP table
//
// Sized once, at start-up, from the counter slot capacities and the Worker count, so a reload never
// moves a cell that a running session writes to or gives back.

/** Bytes: cells written by many threads each get their own cache line. */
export const LINE = 64;
const LINE_INTS = LINE / 4;
const LINE_CELLS = LINE / 8;
const align = (n: number) => Math.ceil(n / LINE) * LINE;

/** Int32 words of the header. */
export const HEADER = { connections: 0 } as const;
export const HEADER_BYTES = LINE;

/** Per-listener cells of a Worker's counter slot. */
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
  /** Closed while routing on the ClientHello: not TLS, a malformed or oversized hello, or none in time. */
  rejectedTlsInspect: 15,
  /** TLS handshakes completed with clients (a terminating listener). */
  tlsHandshakes: 16,
  /** Client handshakes that failed or timed out (bad certificate, no client certificate, not TLS). */
  tlsHandshakeFailures: 17,
  /** Refused for its PROXY protocol header: from an untrusted peer, malformed, truncated, oversized or late. */
  rejectedProxyProtocol: 18,
} as const;
export const LISTENER_CELLS = 19;
/** The listener cells that say what a Worker holds now (a dead Worker's are zeroed), not what it did. */
export const LISTENER_GAUGES = [L.active, L.queued] as const;

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
  /**
   * TLS handshakes with the server that failed, one cell per reason (TLS_FAILURE_REASONS, in
   * this order from here): a certificate that does not chain to a trusted CA, one for another
   * name, one expired or not yet valid, any other handshake failure (not TLS, closed mid-way).
   */
  tlsFailures: 7,
  /** Bytes of the client sessions relayed through this server: from their clients (to the server), and to them. */
  bytesReceived: 11,
  bytesSent: 12,
} as const;
export const TLS_FAILURE_REASONS = ["untrusted", "name_mismatch", "expired", "handshake"] as const;
export type TlsFailureReason = (typeof TLS_FAILURE_REASONS)[number];
export const SERVER_CELLS = 13;
// The TLS failure cells run up to the byte cells: a new reason must move them.
if (S.tlsFailures + TLS_FAILURE_REASONS.length !== S.bytesReceived) throw new Error("layout: S.tlsFailures overlaps S.bytesReceived");
export const SERVER_GAUGES = [S.active, S.poolIdle] as const;

/** Connect latency, seconds: 100 us to 10 s. */
export const CONNECT_BUCKETS: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Session length, seconds: 1 ms to a day. */
export const SESSION_BUCKETS: readonly number[] = [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400];
/** A histogram's cells: one per bucket (not cumulative), then sum and count. */
export const CONNECT_HIST_CELLS = CONNECT_BUCKETS.length + 2;
export const SESSION_HIST_CELLS = SESSION_BUCKETS.length + 2;

/** Int32 words of the admission header. */
export const A = {
  /** Bumped, then notified, when a limited server's place frees while someone queues. */
  wake: 0,
  /** Sessions queued, all upstreams together: zero means nobody needs a wake-up. */
  queued: 1,
  /** Hash seed of the per-IP table, chosen once by the first thread to build it. */
  ipSeed: 2,
} as const;
/** Distinct upstream names that can own a queue over the life of the process. */
export const UPSTREAM_CELLS = 256;
/** Client addresses the per-IP table can track at once (before its refusal policy applies). */
export const IP_TABLE_SLOTS = 1 << 18;
/**
 * One per-IP table entry, 24 bytes (a multiple of 8, so every Int64 stays aligned), seen as Int64
 * words (`key`, `tat`: the token bucket's theoretical arrival time, µs) or as Int32 words (the
 * halves of those, then `count` and `tag`). See admission/ip-table.ts for what they mean.
 */
export const IP_SLOT = { bytes: 24, wide: 3, narrow: 6, key: 0, tat: 1, keyLo: 0, keyHi: 1, tatLo: 2, tatHi: 3, count: 4, tag: 5 } as const;
export const ipTableBytes = (slots: number): number => slots * IP_SLOT.bytes;

/** The room a process has, in counter slots: fixed at start-up. */
export interface Capacities {
  listenerCapacity: number;
  serverCapacity: number;
}

/**
 * Stable places for each listener's and server's cells. They are kept by name across reloads, so
 * totals continue and sessions started under an older config keep writing to valid cells.
 */
export interface CounterSlots extends Capacities {
  /** Slot of each listener of the current config, by listener index. */
  listeners: number[];
  /** Slot of each server of the current config, by upstream and server index. */
  servers: number[][];
}

/** Where the admission region's parts start (bytes from the buffer's start) and how they are strided. */
export interface AdmissionMap {
  offset: number;
  bytes: number;
  header: number;
  /** Per server slot, one line: sessions that hold it, connecting or relaying. */
  servers: number;
  /** Per upstream cell: a 64-bit hash of the upstream's name, 0 while unclaimed. */
  names: number;
  /** Per upstream cell, one line: [0] sessions waiting, all Workers; [1] the last ticket given. */
  queues: number;
  /** Per Worker, `heldStride` Int32s: server places held, then queue places held, then queue heads' tickets. */
  held: number;
  heldStride: number;
  heldQueues: number;
  heldHeads: number;
  /** Per Worker, IP_TABLE_SLOTS Int32s: the counts it holds in each per-IP table entry. */
  ipHeld: number;
  ipTable: number;
  /** Int32 index of a line-strided cell (server place, queue) inside its part. */
  lineInts: number;
}

/** The admission region when it starts at `offset`: a function of the capacities alone. */
export function admissionMap(offset: number, serverCapacity: number, workers: number): AdmissionMap {
  const heldStride = serverCapacity + 2 * UPSTREAM_CELLS;
  const header = offset;
  const servers = header + LINE;
  const names = servers + serverCapacity * LINE;
  const queues = names + align(UPSTREAM_CELLS * 8);
  const held = queues + UPSTREAM_CELLS * LINE;
  // 1 MiB a Worker for ipHeld, but shared memory is committed by the page as it is touched, and a
  // Worker touches only the entries its clients use.
  const ipHeld = held + align(workers * heldStride * 4);
  const ipTable = ipHeld + align(workers * IP_TABLE_SLOTS * 4);
  const end = ipTable + ipTableBytes(IP_TABLE_SLOTS);
  return {
    offset, bytes: end - offset, header, servers, names, queues, held, heldStride, heldQueues: serverCapacity,
    heldHeads: serverCapacity + UPSTREAM_CELLS, ipHeld, ipTable, lineInts: LINE_INTS,
  };
}

/** Bytes the admission region needs on its own (tests build it alone, at offset 0). */
export const admissionBytes = (serverCapacity: number, workers: number): number => admissionMap(0, serverCapacity, workers).bytes;

/** A named stretch of the buffer; together the regions tile it from 0 to `byteLength`. */
export interface Region {
  name: "header" | "counters" | "admissionHeader" | "serverPlaces" | "queueNames" | "queues" | "held" | "ipHeld" | "ipTable";
  offset: number;
  bytes: number;
}

/** The whole buffer for a process: fixed by the capacities and the Worker count. */
export class SharedMap {
  /** Float64 cells in one Worker's counter slot, a whole number of cache lines. */
  readonly stride: number;
  readonly serverStart: number;
  readonly connectHistStart: number;
  readonly sessionHistStart: number;
  readonly serverSessionHistStart: number;
  readonly admission: AdmissionMap;

  constructor(readonly capacities: Capacities, readonly workers: number) {
    const { listenerCapacity, serverCapacity } = capacities;
    this.serverStart = listenerCapacity * LISTENER_CELLS;
    this.connectHistStart = this.serverStart + serverCapacity * SERVER_CELLS;
    this.sessionHistStart = this.connectHistStart + serverCapacity * CONNECT_HIST_CELLS;
    this.serverSessionHistStart = this.sessionHistStart + listenerCapacity * SESSION_HIST_CELLS;
    const cells = this.serverSessionHistStart + serverCapacity * SESSION_HIST_CELLS;
    this.stride = Math.ceil(cells / LINE_CELLS) * LINE_CELLS || LINE_CELLS;
    this.admission = admissionMap(HEADER_BYTES + this.stride * workers * 8, serverCapacity, workers);
  }

  get byteLength(): number {
    return this.admission.offset + this.admission.bytes;
  }

  allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(this.byteLength);
  }

  /** Byte offset of Worker `worker`'s counter slot. */
  counterOffset(worker: number): number {
    return HEADER_BYTES + worker * this.stride * 8;
  }

  /** First cell, inside a Worker's slot, of listener slot `slot` (not a config's listener index). */
  listenerCells(slot: number): number {
    return slot * LISTENER_CELLS;
  }

  serverCells(slot: number): number {
    return this.serverStart + slot * SERVER_CELLS;
  }

  regions(): Region[] {
    const a = this.admission;
    const parts: [Region["name"], number][] = [
      ["header", 0], ["counters", HEADER_BYTES], ["admissionHeader", a.header], ["serverPlaces", a.servers], ["queueNames", a.names],
      ["queues", a.queues], ["held", a.held], ["ipHeld", a.ipHeld], ["ipTable", a.ipTable],
    ];
    return parts.map(([name, offset], i) => ({ name, offset, bytes: (parts[i + 1]?.[1] ?? this.byteLength) - offset }));
  }
}

/** Where each cell of the current config lives: the map plus the slots that config was given. */
export class CounterLayout {
  readonly map: SharedMap;
  readonly listenerCount: number;

  constructor(readonly slots: CounterSlots, readonly workers: number) {
    this.map = new SharedMap(slots, workers);
    this.listenerCount = slots.listeners.length;
  }

  get stride(): number {
    return this.map.stride;
  }

  get byteLength(): number {
    return this.map.byteLength;
  }

  /** Where the shared admission state (src/admission/shared-region.ts) starts, after every Worker's counters. */
  get admissionOffset(): number {
    return this.map.admission.offset;
  }

  allocate(): SharedArrayBuffer {
    return this.map.allocate();
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

  /** Index of a listener's first cell inside one Worker's slot. */
  listenerBase(listener: number): number {
    return this.map.listenerCells(this.#listenerSlot(listener));
  }

  serverBase(upstream: number, server: number): number {
    return this.map.serverCells(this.#serverSlot(upstream, server));
  }

  /** First cell of a server's connect-latency histogram (see telemetry/histogram-cells.ts). */
  connectHistBase(upstream: number, server: number): number {
    return this.map.connectHistStart + this.#serverSlot(upstream, server) * CONNECT_HIST_CELLS;
  }

  /** First cell of a listener's session-duration histogram. */
  sessionHistBase(listener: number): number {
    return this.map.sessionHistStart + this.#listenerSlot(listener) * SESSION_HIST_CELLS;
  }

  /** First cell of the session-duration histogram of the sessions relayed to one server. */
  serverSessionHistBase(upstream: number, server: number): number {
    return this.map.serverSessionHistStart + this.#serverSlot(upstream, server) * SESSION_HIST_CELLS;
  }
}

/** One Worker's writable counters: `cells[base + field] += n`. */
export function workerCells(sab: SharedArrayBuffer, layout: { map: SharedMap }, worker: number): Float64Array {
  return new Float64Array(sab, layout.map.counterOffset(worker), layout.map.stride);
}

/** Every Worker's counters, one after the other, for the main thread's sums. */
export function allCounterCells(sab: SharedArrayBuffer, map: SharedMap): Float64Array {
  return new Float64Array(sab, HEADER_BYTES, map.stride * map.workers);
}

/** The cells, inside every Worker's counter slot, that belong to server slot `slot`: [first, count] runs. */
export function serverSlotRuns(map: SharedMap, slot: number): [number, number][] {
  return [
    [map.serverCells(slot), SERVER_CELLS],
    [map.connectHistStart + slot * CONNECT_HIST_CELLS, CONNECT_HIST_CELLS],
    [map.serverSessionHistStart + slot * SESSION_HIST_CELLS, SESSION_HIST_CELLS],
  ];
}
