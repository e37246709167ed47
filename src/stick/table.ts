// A stick table shared by every Worker: client (IPv4, or IPv6 /64) -> server id, in fixed memory, without locks.
//
// Like the per-IP table (src/admission/ip-table.ts), a client may live in any of 16 candidate slots
// (two buckets of 8, chosen by a seeded hash), and nothing but CAS on one word keeps it exact. The
// slot's STATE word (src/stick/layout.ts) carries generation, busy bit and open sessions together:
//   - a session is counted by CAS of the whole word, from not busy to count + 1; then the key is
//     read again and the word too: unless both still say the same incarnation, it is undone;
//   - a slot changes key only while busy, taken by CAS from "no sessions", and the generation moves
//     on when it is let go, so a count taken on the old incarnation fails its CAS or is undone;
//   - a client's server changes in place only while busy (the takeover of an expired entry, or of
//     one stuck to `replacing`), so two Workers never both change it: the second one, told to
//     retry, then joins whatever the first stored;
//   - a new entry is published by writing its key (two words, each fully written before anyone may
//     count on it, as the slot is busy), then every other candidate is read: if another slot has the
//     same key (in any state) the new one is withdrawn and the claim starts over. With sequentially
//     consistent atomics, of two entries published at once the later one sees the earlier, so at
//     most one survives, and every racing claim ends up joining it.
// The main thread's removals (dropServer, delete, clear) take the slot busy from any count and wipe
// it to the next generation: the sessions counted on it are forgotten (their `release` does nothing),
// and a claim in flight on it fails its CAS or its check and retries.
//
// Files: layout.ts (the memory), candidates.ts (a client's 16 slots, reading its entry), claim.ts
// (joining or inserting), admin.ts (the main thread's reads and removals), client-key.ts.
//
// A Worker that dies leaves its open sessions counted: those entries never expire or give way until
// they are removed (`delete`, `dropServer`, `clear`, which forget the counts) or the table is replaced
// by a reload. A Worker killed in the few instructions a slot is busy leaves it busy for good: its
// client is then never counted (claim gives up after PATIENCE_MS) until the table is replaced.
import { isMainThread } from "node:worker_threads";
import type { IpWords } from "../net/ip.ts";
import { clientKey } from "./client-key.ts";
import { dropServer, clearAll, entries, live, wipe, type StickEntry } from "./admin.ts";
import { Candidates, CHANGING, LIVE, ABSENT } from "./candidates.ts";
import { Claimer, DONE, FULL, type StickClaim } from "./claim.ts";
import { BUCKET, COUNT_MASK, GEN_SPAN, KEY_HI, KEY_LO, LAST, STATE, generationOf, readHeader, tickOf, wordOf } from "./layout.ts";

export { allocateStickTable } from "./layout.ts";
export type { StickEntry } from "./admin.ts";
export type { StickClaim } from "./claim.ts";

/** Rounds of a claim that lost races; a round only repeats when another thread changed a candidate. */
const FAST_ATTEMPTS = 32;
/** Past those, a jittered pause of about this long between rounds (as in ip-table.ts), in a Worker. */
const PAUSE_MS = 0.02;
/**
 * ... for at most this long in all; then the client is not counted (slot -1, the caller's id). Long,
 * because what it waits for is a thread the OS took off the CPU inside a busy section: measured
 * with 4 Workers racing on 2 cores kept busy by two other processes, up to 19 ms (a 10 ms patience,
 * as ip-table.ts has, gave up in about one run of the race test in six). Only a claim that meets a busy slot (or keeps
 * losing races) waits, but its Worker's event loop waits with it.
 */
const PATIENCE_MS = 50;
/** Rounds of `find` over a slot another thread is changing before it answers "none". */
const FIND_ATTEMPTS = 64;

export class StickTable {
  readonly capacity: number;
  readonly #words: Int32Array;
  readonly #epochMs: number;
  readonly #candidates: Candidates;
  readonly #claimer: Claimer;
  /** For `release`, which needs the key but not the buckets. */
  readonly #key = new Int32Array(2);
  /** Private cell to Atomics.wait on for a pause (never notified: the wait is a short sleep). */
  readonly #pause = new Int32Array(new SharedArrayBuffer(4));
  /** The main thread must never block: there a slow claim spins instead of pausing. */
  readonly #mayWait = !isMainThread;

  /** Capacity, hash seed and epoch are read from the buffer's header; throws on a buffer allocateStickTable did not make. */
  constructor(sab: SharedArrayBuffer) {
    const header = readHeader(sab);
    this.capacity = header.capacity;
    this.#epochMs = header.epochMs;
    this.#words = new Int32Array(sab);
    this.#candidates = new Candidates(this.#words, header.seed, header.capacity);
    this.#claimer = new Claimer(this.#candidates);
  }

  /**
   * The server id `client` is stuck to, or 0 (none, or expired: no session open and idle longer than ttlMs). Does not change anything.
   * Also 0 when the client's slot stays busy through FIND_ATTEMPTS reads (a few µs): `claim` is the call that waits.
   */
  find(client: IpWords, nowMs: number, ttlMs: number): number {
    checkTtl(ttlMs);
    const candidates = this.#candidates;
    candidates.locate(client);
    const now = tickOf(nowMs, this.#epochMs);
    for (let attempt = 0; attempt < FIND_ATTEMPTS; attempt++) {
      let seen = candidates.read(candidates.first, now, ttlMs);
      if (seen === ABSENT) seen = candidates.read(candidates.second, now, ttlMs);
      if (seen === LIVE) return candidates.found;
      if (seen !== CHANGING) return 0;
    }
    return 0; // a slot stayed busy (its Worker preempted, or gone): nothing is known to be stuck
  }

  /**
   * Stick `client` to server `id` (a nonzero int32 the caller derives from the server's name) unless it is already stuck to another live server:
   * takes the entry when it is absent or expired or currently stuck to `replacing` (0: to nothing); otherwise leaves it.
   * Either way counts one open session on the entry now stored and returns { id: the id now stored (maybe another Worker's), slot } —
   * slot is what `release` gets back; slot -1 (and id = the given id) when the table could not hold the client (every candidate slot has open sessions).
   * `slot` is an opaque handle (slot index and generation), a non-negative integer below 2^39.
   * The same object is returned by every call: read it before the next. Meant for Workers: a claim that meets a busy slot
   * pauses (Atomics.wait) up to PATIENCE_MS before it gives up; on the main thread it spins instead.
   */
  claim(client: IpWords, id: number, nowMs: number, ttlMs: number, replacing: number): StickClaim {
    if (id === 0 || (id | 0) !== id) throw new RangeError(`stick: a server id is a nonzero int32, not ${id}`);
    if ((replacing | 0) !== replacing) throw new RangeError(`stick: replacing is a server id or 0, not ${replacing}`);
    checkTtl(ttlMs);
    this.#candidates.locate(client);
    const now = tickOf(nowMs, this.#epochMs);
    const claimer = this.#claimer;
    let deadline = 0;
    for (let attempt = 0; ; attempt++) {
      if (attempt >= FAST_ATTEMPTS) {
        // Rare: contention that fast rounds did not settle. Pause, within a bounded patience.
        if (deadline === 0) deadline = performance.now() + PATIENCE_MS;
        else if (performance.now() > deadline) break; // races that never settled: not counting is the safe answer
        if (this.#mayWait) Atomics.wait(this.#pause, 0, 0, PAUSE_MS * (0.5 + Math.random()));
      }
      const outcome = claimer.round(id, now, ttlMs, replacing);
      if (outcome === DONE) return claimer.result;
      if (outcome === FULL) break;
    }
    claimer.result.id = id;
    claimer.result.slot = -1;
    return claimer.result;
  }

  /** A session counted by claim ended: one open session fewer, last used = now. Safe if the slot changed hands (then it does nothing). */
  release(slot: number, client: IpWords, nowMs: number): void {
    const now = tickOf(nowMs, this.#epochMs);
    if (slot < 0) return;
    const index = Math.floor(slot / GEN_SPAN);
    if (!Number.isInteger(slot) || index >= this.capacity) throw new RangeError(`stick: ${slot} is not a handle claim gave`);
    const generation = slot % GEN_SPAN;
    const words = this.#words;
    const at = wordOf(index, 0);
    if (!this.#holds(at, generation)) return; // wiped since (or never ours)
    clientKey(client, this.#key);
    if (Atomics.load(words, at + KEY_HI) !== this.#key[0] || Atomics.load(words, at + KEY_LO) !== this.#key[1]) return;
    // Last use first, while our count still keeps the entry from expiring or changing hands (a wipe
    // in between could let this land on the slot's next entry: a time of now, harmless there). The
    // latest time wins when sessions end at once.
    for (let last = Atomics.load(words, at + LAST); now > last >>> 0; ) {
      const seen = Atomics.compareExchange(words, at + LAST, last, now | 0);
      if (seen === last) break;
      last = seen;
    }
    for (let current = Atomics.load(words, at + STATE); generationOf(current) === generation && (current & COUNT_MASK) > 0; ) {
      const seen = Atomics.compareExchange(words, at + STATE, current, current - 1);
      if (seen === current) return;
      current = seen;
    }
  }

  #holds(at: number, generation: number): boolean {
    const state = Atomics.load(this.#words, at + STATE);
    return generationOf(state) === generation && (state & COUNT_MASK) > 0;
  }

  /** Drop every entry stuck to server `id` (its server went down, was disabled or removed). Returns how many. */
  dropServer(id: number): number {
    if (id === 0 || (id | 0) !== id) throw new RangeError(`stick: a server id is a nonzero int32, not ${id}`);
    return dropServer(this.#words, this.capacity, id);
  }

  /** Remove `client`'s entry; true when there was one (an expired one not yet reused counts: the table keeps no ttl). */
  delete(client: IpWords): boolean {
    const candidates = this.#candidates;
    candidates.locate(client);
    const [hi, lo] = candidates.key;
    let removed = false;
    // Every candidate: two copies of a key exist for an instant while one is being withdrawn.
    for (const first of [candidates.first, candidates.second]) {
      for (let slot = first; slot < first + BUCKET; slot++) if (wipe(this.#words, slot, 0, hi!, lo!)) removed = true;
    }
    return removed;
  }

  /** Remove every entry; returns how many slots held one (expired ones not yet reused included). */
  clear(): number {
    return clearAll(this.#words, this.capacity);
  }

  /** Live entries (for the admin API): client as text (IPv4 dotted, IPv6 as its /64 prefix "2001:db8:1:2::/64"), server id, open sessions, ms since last use (0 while sessions are open). */
  entries(nowMs: number, ttlMs: number, limit = Number.POSITIVE_INFINITY): StickEntry[] {
    checkTtl(ttlMs);
    if (!(limit >= 0)) throw new RangeError(`stick: limit must be 0 or more, not ${limit}`);
    return entries(this.#words, this.capacity, tickOf(nowMs, this.#epochMs), ttlMs, limit);
  }

  /** Count of live entries (aegis_stick_entries). Allocation-free. */
  live(nowMs: number, ttlMs: number): number {
    checkTtl(ttlMs);
    return live(this.#words, this.capacity, tickOf(nowMs, this.#epochMs), ttlMs);
  }
}

function checkTtl(ttlMs: number): void {
  if (!(ttlMs >= 0) || ttlMs === Number.POSITIVE_INFINITY) throw new RangeError(`stick: ttl must be a finite number of ms, not ${ttlMs}`);
}
