// The admission state every Worker shares, in one region of the counters' SharedArrayBuffer.
//
// Everything here is exact process-wide because it is updated only with Atomics (a compare-and-swap
// checks and takes in one step); nothing takes a lock. The region is sized once, at start-up, from
// the counter slot capacities, so reloads never move a cell a running session will give back.
import { IpTable, ipTableBytes } from "./ip-table.ts";
import type { IpWords } from "../net/ip.ts";
import type { TokenBucket } from "./token-bucket.ts";

/** Distinct upstream names that can own a queue over the life of the process. */
export const UPSTREAM_CELLS = 256;
/** Client addresses the per-IP table can track at once (before its refusal policy applies). */
export const IP_TABLE_SLOTS = 1 << 18;

const LINE = 64; // bytes: cells written by many Workers each get their own cache line
const LINE_INTS = LINE / 4;

/** Header words. */
const WAKE = 0; // bumped, then notified, when a limited server's slot frees while someone queues
const QUEUED = 1; // sessions queued, all upstreams together: zero means nobody needs a wake-up
export const IP_SEED = 2; // hash seed of the per-IP table, chosen once by the first Worker

const align = (n: number) => Math.ceil(n / LINE) * LINE;

function sizes(serverCapacity: number, workers: number) {
  const header = LINE;
  const servers = serverCapacity * LINE;
  const names = align(UPSTREAM_CELLS * 8);
  const queues = UPSTREAM_CELLS * LINE;
  const held = align(workers * (serverCapacity + 2 * UPSTREAM_CELLS) * 4);
  // Per Worker, per per-IP table slot: counts it holds. 1 MiB a Worker, but shared memory is
  // committed by the page as it is touched, and a Worker touches only the slots its clients use.
  const ipHeld = align(workers * IP_TABLE_SLOTS * 4);
  return { header, servers, names, queues, held, ipHeld, ip: ipTableBytes(IP_TABLE_SLOTS) };
}

/** Bytes the region needs; CounterLayout reserves them after the Workers' counters. */
export function admissionBytes(serverCapacity: number, workers: number): number {
  return Object.values(sizes(serverCapacity, workers)).reduce((a, b) => a + b, 0);
}

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
  /** Per Worker (IP_TABLE_SLOTS-strided): per-IP counts it holds, written only by that Worker. */
  readonly #ipHeld: Int32Array;
  /** Per-client-address counts; in a Worker, what it takes and gives back is recorded in #ipHeld. */
  readonly ipTable: IpTable;

  /** `worker`: the Worker that takes and gives back through this view (-1: none, the main thread). */
  constructor(sab: SharedArrayBuffer, offset: number, readonly serverCapacity: number, readonly workers: number, worker = threadWorker) {
    const s = sizes(serverCapacity, workers);
    let at = offset;
    this.#header = new Int32Array(sab, at, s.header / 4);
    this.#servers = new Int32Array(sab, (at += s.header), s.servers / 4);
    this.#names = new BigInt64Array(sab, (at += s.servers), UPSTREAM_CELLS);
    this.#queues = new Int32Array(sab, (at += s.names), s.queues / 4);
    this.#heldStride = serverCapacity + 2 * UPSTREAM_CELLS;
    this.#held = new Int32Array(sab, (at += s.queues), workers * this.#heldStride);
    this.#ipHeld = new Int32Array(sab, (at += s.held), workers * IP_TABLE_SLOTS);
    const ipAt = (at += s.ipHeld);
    this.ipTable = worker >= 0 && worker < workers
      ? new RecordedIpTable(sab, ipAt, this.#header, this.#ipHeld.subarray(worker * IP_TABLE_SLOTS, (worker + 1) * IP_TABLE_SLOTS))
      : new IpTable(sab, ipAt, IP_TABLE_SLOTS, this.#header, IP_SEED);
  }

  // ---- server slots: hard and soft limits ---------------------------------------------------

  /** Sessions holding server `slot`, all Workers together. */
  serverLoad(slot: number): number {
    return Atomics.load(this.#servers, slot * LINE_INTS);
  }

  /** Take one place on server `slot` unless `max` (0 = no cap) are taken; Worker `worker` then holds it. */
  takeServer(slot: number, max: number, worker: number): boolean {
    const i = slot * LINE_INTS;
    if (max === 0) Atomics.add(this.#servers, i, 1);
    else if (!incrementBelow(this.#servers, i, max)) return false;
    this.#held[worker * this.#heldStride + slot]! += 1;
    return true;
  }

  giveServer(slot: number, worker: number): void {
    Atomics.sub(this.#servers, slot * LINE_INTS, 1);
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
    return Atomics.load(this.#queues, cell * LINE_INTS);
  }

  /**
   * Take a place in the queue of `cell` unless `max` are taken. Returns the place's ticket: tickets
   * rise in arrival order, all Workers together (0: the queue is full).
   */
  enqueue(cell: number, max: number, worker: number): number {
    const i = cell * LINE_INTS;
    if (!incrementBelow(this.#queues, i, max)) return 0;
    Atomics.add(this.#header, QUEUED, 1);
    this.#held[worker * this.#heldStride + this.serverCapacity + cell]! += 1;
    let ticket = 0;
    while (ticket === 0) ticket = (Atomics.add(this.#queues, i + 1, 1) + 1) | 0; // 0 means "none"; it wraps past 2^31
    return ticket;
  }

  /** Worker `worker`'s queue for `cell` now starts with `ticket` (0: it is empty). */
  publishHead(cell: number, worker: number, ticket: number): void {
    Atomics.store(this.#held, worker * this.#heldStride + this.serverCapacity + UPSTREAM_CELLS + cell, ticket);
  }

  /** The oldest ticket at the head of any Worker's queue for `cell`, or 0 when all are empty. */
  oldestHead(cell: number): number {
    let oldest = 0;
    for (let w = 0; w < this.workers; w++) {
      const ticket = Atomics.load(this.#held, w * this.#heldStride + this.serverCapacity + UPSTREAM_CELLS + cell);
      if (ticket !== 0 && (oldest === 0 || ((ticket - oldest) | 0) < 0)) oldest = ticket; // wrap-safe order
    }
    return oldest;
  }

  dequeue(cell: number, worker: number): void {
    Atomics.sub(this.#queues, cell * LINE_INTS, 1);
    Atomics.sub(this.#header, QUEUED, 1);
    this.#held[worker * this.#heldStride + this.serverCapacity + cell]! -= 1;
  }

  /** Sessions queued anywhere, for any upstream. */
  queuedAnywhere(): number {
    return Atomics.load(this.#header, QUEUED);
  }

  /** Wake every Worker waiting in `waitForSlot`. */
  wake(): void {
    Atomics.add(this.#header, WAKE, 1);
    Atomics.notify(this.#header, WAKE);
  }

  /** Resolves when `wake` is called or after `timeoutMs` (never blocks the thread). */
  waitForSlot(timeoutMs: number): Promise<unknown> {
    const result = Atomics.waitAsync(this.#header, WAKE, Atomics.load(this.#header, WAKE), timeoutMs);
    return result.async ? result.value : Promise.resolve(result.value);
  }

  // ---- recovery ---------------------------------------------------------------------------

  /**
   * Worker `worker` died with its sessions: give back the server places, queue places and per-IP
   * counts it held. Only for a Worker that has exited: its own records are read without atomics.
   */
  forgetWorker(worker: number): void {
    const ipBase = worker * IP_TABLE_SLOTS;
    for (let slot = 0; slot < IP_TABLE_SLOTS; slot++) {
      for (let n = this.#ipHeld[ipBase + slot]!; n > 0; n--) IpTable.prototype.release.call(this.ipTable, slot); // not this view's own record
      this.#ipHeld[ipBase + slot] = 0;
    }
    const base = worker * this.#heldStride;
    for (let slot = 0; slot < this.serverCapacity; slot++) {
      const n = this.#held[base + slot]!;
      if (n !== 0) Atomics.sub(this.#servers, slot * LINE_INTS, n);
      this.#held[base + slot] = 0;
    }
    for (let cell = 0; cell < UPSTREAM_CELLS; cell++) {
      const n = this.#held[base + this.serverCapacity + cell]!;
      if (n !== 0) {
        Atomics.sub(this.#queues, cell * LINE_INTS, n);
        Atomics.sub(this.#header, QUEUED, n);
      }
      this.#held[base + this.serverCapacity + cell] = 0;
      Atomics.store(this.#held, base + this.serverCapacity + UPSTREAM_CELLS + cell, 0);
    }
  }
}

/** The per-IP table as one Worker uses it: every count it holds is also counted in its own row. */
class RecordedIpTable extends IpTable {
  readonly #mine: Int32Array;
  /** Inside acquire, which may take and give back a count itself before it answers. */
  #inside = false;

  constructor(sab: SharedArrayBuffer, offset: number, header: Int32Array, mine: Int32Array) {
    super(sab, offset, IP_TABLE_SLOTS, header, IP_SEED);
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
