// The admission state every Worker shares: server places, queues and the per-IP table, read and
// taken through the admission region of the shared map (src/shared/layout.ts says where each part is).
//
// Everything here is exact process-wide because it is updated only with Atomics (a compare-and-swap
// checks and takes in one step); nothing takes a lock. What a Worker holds is recorded per Worker, so
// src/shared/forget-worker.ts can give a dead Worker's share back.
import type { Config } from "../config/types.ts";
import { A, IP_TABLE_SLOTS, UPSTREAM_CELLS, admissionMap, type CounterLayout } from "../shared/layout.ts";
import { IpTable } from "./ip-table.ts";
import type { IpWords } from "../net/ip.ts";
import type { TokenBucket } from "./token-bucket.ts";

/**
 * Which Worker this thread is, for regions built without saying (-1: the main thread, which holds
 * nothing). Each Worker is its own JS realm, so this is per thread; the Worker's entry point sets it
 * once, before its data plane builds its admission.
 */
let threadWorker = -1;
export function setThreadWorker(worker: number): void {
  threadWorker = worker;
}

export class SharedAdmission {
  readonly #header: Int32Array;
  /** Per server slot (line-strided): sessions that hold it, connecting or relaying. */
  readonly #servers: Int32Array;
  /** Per upstream cell: a 64-bit hash of the upstream's name, 0 while unclaimed. */
  readonly #names: BigInt64Array;
  /** Per upstream cell (line-strided): [0] sessions waiting in that upstream's queue, all Workers; [1] last ticket given. */
  readonly #queues: Int32Array;
  /**
   * Per Worker: what it holds (server places, then queue places), so a dead Worker's share can be
   * given back; then, per upstream cell, the ticket of its queue's head (0: none), for FIFO across Workers.
   */
  readonly #held: Int32Array;
  readonly #heldStride: number;
  readonly #heldQueues: number;
  readonly #heldHeads: number;
  readonly #lineInts: number;
  /** Per-client-address counts; in a Worker, what it takes and gives back is recorded in its row of the map's `ipHeld`. */
  readonly ipTable: IpTable;

  /**
   * `offset`: where the admission region starts (SharedMap.admission.offset; 0 when a test builds it
   * alone). `worker`: the Worker that takes and gives back through this view (-1: none, the main thread).
   */
  constructor(sab: SharedArrayBuffer, offset: number, readonly serverCapacity: number, readonly workers: number, worker = threadWorker) {
    const m = admissionMap(offset, serverCapacity, workers);
    this.#lineInts = m.lineInts;
    this.#header = new Int32Array(sab, m.header, m.lineInts);
    this.#servers = new Int32Array(sab, m.servers, serverCapacity * m.lineInts);
    this.#names = new BigInt64Array(sab, m.names, UPSTREAM_CELLS);
    this.#queues = new Int32Array(sab, m.queues, UPSTREAM_CELLS * m.lineInts);
    this.#heldStride = m.heldStride;
    this.#heldQueues = m.heldQueues;
    this.#heldHeads = m.heldHeads;
    this.#held = new Int32Array(sab, m.held, workers * m.heldStride);
    const ipHeld = new Int32Array(sab, m.ipHeld, workers * IP_TABLE_SLOTS);
    this.ipTable = worker >= 0 && worker < workers
      ? new RecordedIpTable(sab, m.ipTable, this.#header, ipHeld.subarray(worker * IP_TABLE_SLOTS, (worker + 1) * IP_TABLE_SLOTS))
      : new IpTable(sab, m.ipTable, IP_TABLE_SLOTS, this.#header, A.ipSeed);
  }

  // ---- server slots: hard and soft limits ---------------------------------------------------

  /** Sessions holding server `slot`, all Workers together. */
  serverLoad(slot: number): number {
    return Atomics.load(this.#servers, slot * this.#lineInts);
  }

  /** Take one place on server `slot` unless `max` (0 = no cap) are taken; Worker `worker` then holds it. */
  takeServer(slot: number, max: number, worker: number): boolean {
    const i = slot * this.#lineInts;
    if (max === 0) Atomics.add(this.#servers, i, 1);
    else if (!incrementBelow(this.#servers, i, max)) return false;
    this.#held[worker * this.#heldStride + slot]! += 1;
    return true;
  }

  giveServer(slot: number, worker: number): void {
    Atomics.sub(this.#servers, slot * this.#lineInts, 1);
    this.#held[worker * this.#heldStride + slot]! -= 1;
  }

  // ---- queues ---------------------------------------------------------------------------------

  /**
   * The queue cell of upstream `name`: the same in every Worker and across reloads, claimed by the
   * first Worker to ask. -1 when all cells are taken (the queue is then bounded per Worker only).
   */
  queueCell(name: string): number {
    const key = nameHash(name);
    for (let probe = 0; probe < UPSTREAM_CELLS; probe++) {
      const cell = Number(key & BigInt(UPSTREAM_CELLS - 1)) ^ probe;
      const seen = Atomics.compareExchange(this.#names, cell, 0n, key);
      if (seen === 0n || seen === key) return cell;
    }
    return -1;
  }

  queued(cell: number): number {
    return Atomics.load(this.#queues, cell * this.#lineInts);
  }

  /**
   * Take a place in the queue of `cell` unless `max` are taken. Returns the place's ticket: tickets
   * rise in arrival order, all Workers together (0: the queue is full).
   */
  enqueue(cell: number, max: number, worker: number): number {
    const i = cell * this.#lineInts;
    if (!incrementBelow(this.#queues, i, max)) return 0;
    Atomics.add(this.#header, A.queued, 1);
    this.#held[worker * this.#heldStride + this.#heldQueues + cell]! += 1;
    let ticket = 0;
    while (ticket === 0) ticket = (Atomics.add(this.#queues, i + 1, 1) + 1) | 0; // 0 means "none"; it wraps past 2^31
    return ticket;
  }

  /** Worker `worker`'s queue for `cell` now starts with `ticket` (0: it is empty). */
  publishHead(cell: number, worker: number, ticket: number): void {
    Atomics.store(this.#held, worker * this.#heldStride + this.#heldHeads + cell, ticket);
  }

  /** The oldest ticket at the head of any Worker's queue for `cell`, or 0 when all are empty. */
  oldestHead(cell: number): number {
    let oldest = 0;
    for (let w = 0; w < this.workers; w++) {
      const ticket = Atomics.load(this.#held, w * this.#heldStride + this.#heldHeads + cell);
      if (ticket !== 0 && (oldest === 0 || ((ticket - oldest) | 0) < 0)) oldest = ticket; // wrap-safe order
    }
    return oldest;
  }

  dequeue(cell: number, worker: number): void {
    Atomics.sub(this.#queues, cell * this.#lineInts, 1);
    Atomics.sub(this.#header, A.queued, 1);
    this.#held[worker * this.#heldStride + this.#heldQueues + cell]! -= 1;
  }

  /** Sessions queued anywhere, for any upstream. */
  queuedAnywhere(): number {
    return Atomics.load(this.#header, A.queued);
  }

  /** Wake every Worker waiting in `waitForSlot`. */
  wake(): void {
    Atomics.add(this.#header, A.wake, 1);
    Atomics.notify(this.#header, A.wake);
  }

  /** Resolves when `wake` is called or after `timeoutMs` (never blocks the thread). */
  waitForSlot(timeoutMs: number): Promise<unknown> {
    const result = Atomics.waitAsync(this.#header, A.wake, Atomics.load(this.#header, A.wake), timeoutMs);
    return result.async ? result.value : Promise.resolve(result.value);
  }
}

/** The main thread's view of each buffer's admission state, built once: what /metrics reads. */
const mainViews = new WeakMap<SharedArrayBuffer, SharedAdmission>();

/**
 * aegis_per_ip_entries and aegis_per_ip_capacity, for /metrics and /metrics.json alike; null when
 * no listener has a per-IP cap or rate (the table is then never used).
 */
export function perIpUsage(config: Config, sab: SharedArrayBuffer, layout: CounterLayout): { entries: number; capacity: number } | null {
  if (!config.listeners.some((l) => l.admission && (l.admission.maxConnectionsPerIp > 0 || l.admission.connectionRatePerIp))) return null;
  const view = mainView(sab, layout);
  return { entries: view.ipTable.live((performance.timeOrigin + performance.now()) * 1000), capacity: view.ipTable.slots };
}

/**
 * Sessions waiting in upstream `name`'s queue, all Workers together (the status page). Its cell is the
 * one every Worker finds by the name's hash, so claiming it here first changes nothing; -1 when no cell is left.
 */
export function upstreamQueued(sab: SharedArrayBuffer, layout: CounterLayout, name: string): number {
  const view = mainView(sab, layout);
  const cell = view.queueCell(name);
  return cell < 0 ? -1 : view.queued(cell);
}

function mainView(sab: SharedArrayBuffer, layout: CounterLayout): SharedAdmission {
  let view = mainViews.get(sab);
  if (!view) mainViews.set(sab, (view = new SharedAdmission(sab, layout.admissionOffset, layout.slots.serverCapacity, layout.workers, -1)));
  return view;
}

/** The per-IP table as one Worker uses it: every count it holds is also counted in its own row. */
class RecordedIpTable extends IpTable {
  readonly #mine: Int32Array;
  /** Inside acquire, which may take and give back a count itself before it answers. */
  #inside = false;

  constructor(sab: SharedArrayBuffer, offset: number, header: Int32Array, mine: Int32Array) {
    super(sab, offset, IP_TABLE_SLOTS, header, A.ipSeed);
    this.#mine = mine;
  }

  override acquire(w: IpWords, tag: number, max: number, bucket: TokenBucket | null, now: bigint): number {
    this.#inside = true;
    let slot: number;
    try {
      slot = super.acquire(w, tag, max, bucket, now);
    } finally {
      this.#inside = false;
    }
    if (slot >= 0) this.#mine[slot]! += 1;
    return slot;
  }

  override release(slot: number): void {
    super.release(slot);
    if (slot >= 0 && !this.#inside) this.#mine[slot]! -= 1;
  }
}

/** Add one to `cells[i]` unless it has reached `max`: the check and the add are one compare-and-swap. */
function incrementBelow(cells: Int32Array, i: number, max: number): boolean {
  for (let current = Atomics.load(cells, i); ; ) {
    if (current >= max) return false;
    const seen = Atomics.compareExchange(cells, i, current, current + 1);
    if (seen === current) return true;
    current = seen;
  }
}

/** FNV-1a, 64-bit, never 0 (0 marks a free cell). Run once per upstream, not per connection. */
function nameHash(name: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(name)) h = BigInt.asUintN(64, (h ^ BigInt(byte)) * 0x100000001b3n);
  return BigInt.asIntN(64, h) || 1n;
}
