// Per-client-address state shared by every Worker: open connections and a token bucket per address,
// in a fixed-size table in shared memory. Like HAProxy's stick-table conn_cur, exact process-wide.
//
// Slot layout (IP_SLOT in src/shared/layout.ts): key (Int64), TAT of the token bucket (Int64, µs),
// count (Int32), tag (Int32).
//   key    0 = empty; otherwise the client: an IPv4 address, or an IPv6 /64 (see `clientKey`).
//   tag    which listener the entry belongs to (listeners keep separate counts).
//   count  >= 0: connections held; -1: one Worker is filling or emptying the slot, others retry.
//
// A key may live in any of 16 candidate slots (two buckets of 8, chosen by a seeded hash). The rules
// that keep one live entry per key without locks:
//   - a count is taken by CAS from c >= 0 to c + 1, then the key is read again (undone if it moved);
//   - a slot changes key only after its count went 0 -> -1 by CAS, so nobody holds it;
//   - a new entry is published by storing its key, then every other candidate is read: if another
//     slot has the same key (in any state) the new one is withdrawn and the lookup starts over.
//     With sequentially consistent atomics, of two entries published at once the later one always
//     sees the earlier, so at most one survives.
// An entry whose count is 0 and whose bucket is full again carries no information: it is reused in
// place. Memory is therefore fixed; when all 16 candidates of a new address are live, the address is
// refused (IP_TABLE_FULL) rather than let through untracked: a cap that a flood of other addresses
// can switch off is no cap. Placing each new entry in the emptier of its two buckets keeps that from
// happening below about 70% of the slots live (measured on random addresses), and the seed, chosen
// at start-up, keeps an attacker from aiming addresses at one bucket.
import { mix32 as mix } from "../shared/hash.ts";
import { IP_SLOT } from "../shared/layout.ts";
import { isV4, type IpWords } from "../net/ip.ts";
import type { TokenBucket } from "./token-bucket.ts";

/** Outcomes of `acquire` other than a held slot (>= 0). */
export const IP_UNTRACKED = -1; // admitted; nothing is held (no connection cap)
export const IP_OVER_LIMIT = -2;
export const IP_OVER_RATE = -3;
export const IP_TABLE_FULL = -4;

const { wide: W, narrow: N, key: KEY, tat: TAT, count: COUNT, tag: TAG, keyLo: KEY_LO, keyHi: KEY_HI, tatLo: TAT_LO, tatHi: TAT_HI } = IP_SLOT;
const BUCKET = 8;
/** Rounds of a lookup that lost races; a round only repeats when another Worker changed a candidate. */
const FAST_ATTEMPTS = 32;
/**
 * Past those, rounds go on with a pause of about this long between them (jittered): a Worker that
 * was preempted while it held a slot at -1 gets the CPU back to finish, and two Workers that keep
 * withdrawing the same new key fall out of step. Measured: with 4 threads on 2 cores, 32 rounds
 * without a pause were used up about once in a few hundred thousand lookups.
 */
const PAUSE_MS = 0.02;
/** ... for at most this long in all, before the address is refused (IP_TABLE_FULL). */
const PATIENCE_MS = 10;
const RETRY = -10;

export class IpTable {
  /** Per slot, IP_SLOT.wide words: key, TAT. */
  readonly #wide: BigInt64Array;
  /** Per slot, IP_SLOT.narrow words: the halves of key and TAT, then count, tag. */
  readonly #narrow: Int32Array;
  readonly #buckets: number;
  readonly #seed: number;
  /** Composes a 64-bit key from two 32-bit halves with one BigInt allocation. */
  readonly #scratch = new BigInt64Array(1);
  readonly #halves = new Uint32Array(this.#scratch.buffer);
  readonly #candidates = new Int32Array(2 * BUCKET);
  /** Private cell to Atomics.wait on for a pause (never notified: the wait is a short sleep). */
  readonly #pause = new Int32Array(new SharedArrayBuffer(4));

  /** `slots` is a power of two, at least 16. The seed lives in `header[seedIndex]`, set by whoever comes first. */
  constructor(sab: SharedArrayBuffer, offset: number, readonly slots: number, header: Int32Array, seedIndex: number) {
    this.#wide = new BigInt64Array(sab, offset, slots * IP_SLOT.wide);
    this.#narrow = new Int32Array(sab, offset, slots * IP_SLOT.narrow);
    this.#buckets = slots / BUCKET;
    Atomics.compareExchange(header, seedIndex, 0, (Math.random() * 0x7fffffff) | 1);
    this.#seed = Atomics.load(header, seedIndex);
  }

  /**
   * Count one connection of client `w` on listener `tag`: refused when `max` (0 = no cap) are open
   * or `bucket` (null = no rate) is empty. Returns the slot to `release` when the connection ends,
   * or IP_UNTRACKED, or a refusal (IP_OVER_LIMIT, IP_OVER_RATE, IP_TABLE_FULL). `now` in µs.
   */
  acquire(w: IpWords, tag: number, max: number, bucket: TokenBucket | null, now: bigint): number {
    const key = this.#clientKey(w);
    this.#fillCandidates(tag);
    let deadline = 0;
    for (let attempt = 0; ; attempt++) {
      if (attempt >= FAST_ATTEMPTS) {
        // Rare: contention that fast rounds did not settle. Pause, within a bounded patience.
        if (deadline === 0) deadline = performance.now() + PATIENCE_MS;
        else if (performance.now() > deadline) return IP_TABLE_FULL; // races that never settled: refusing is the safe answer
        Atomics.wait(this.#pause, 0, 0, PAUSE_MS * (0.5 + Math.random()));
      }
      let slot = this.#find(key, tag);
      if (slot >= 0) {
        const held = this.#hold(slot, key, tag, max);
        if (held !== 0) {
          if (held === IP_OVER_LIMIT) return held;
          continue;
        }
      } else {
        slot = this.#insert(key, tag, now);
        if (slot === IP_TABLE_FULL) return slot;
        if (slot < 0) continue;
      }
      if (bucket && !this.#takeToken(slot, bucket, now)) {
        this.release(slot);
        return IP_OVER_RATE;
      }
      if (max > 0) return slot;
      this.release(slot); // held only to keep the entry in place while its bucket changed
      return IP_UNTRACKED;
    }
  }

  /** A connection counted by `acquire` ended; negative values (nothing held) are ignored. */
  release(slot: number): void {
    if (slot >= 0) Atomics.sub(this.#narrow, slot * N + COUNT, 1);
  }

  /**
   * Addresses with live state at `nowMicros` (open connections, or a bucket not yet full again):
   * what the table must hold. Reads every slot through the 32-bit view and allocates nothing.
   */
  live(nowMicros: number): number {
    let n = 0;
    for (let s = 0; s < this.slots; s++) {
      const i = s * N;
      if (Atomics.load(this.#narrow, i + KEY_LO) === 0 && Atomics.load(this.#narrow, i + KEY_HI) === 0) continue; // empty
      if (Atomics.load(this.#narrow, i + COUNT) > 0) n++;
      else if (Atomics.load(this.#narrow, i + TAT_HI) * 4294967296 + (Atomics.load(this.#narrow, i + TAT_LO) >>> 0) > nowMicros) n++;
    }
    return n;
  }

  /** Connections counted for the entry in `slot`. */
  countAt(slot: number): number {
    return Atomics.load(this.#narrow, slot * N + COUNT);
  }

  /**
   * IPv4 as itself; IPv6 by its /64, the unit a host is given and can rotate addresses within, so
   * per-address caps cannot be dodged by changing the low bits. Both land in halves no real source
   * can have (ff01::/16 and ff02::/16 are multicast), so 0 stays free to mean "empty".
   */
  #clientKey(w: IpWords): bigint {
    let hi: number;
    let lo: number;
    if (isV4(w)) {
      hi = 0xff010000;
      lo = w[3]!;
    } else {
      hi = w[0]!;
      lo = w[1]!;
      if (hi === 0 && lo === 0) hi = 0xff020000; // ::/64 (::1 is in it)
    }
    this.#halves[0] = lo; // little-endian: the low half first
    this.#halves[1] = hi;
    return this.#scratch[0]!;
  }

  #fillCandidates(tag: number): void {
    const h = mix(mix(this.#seed ^ this.#halves[1]!) ^ this.#halves[0]! ^ Math.imul(tag, 0x9e3779b1));
    const first = h % this.#buckets;
    let second = mix(h ^ 0x85ebca6b) % this.#buckets;
    if (second === first) second = (first + 1) % this.#buckets;
    for (let i = 0; i < BUCKET; i++) {
      this.#candidates[i] = first * BUCKET + i;
      this.#candidates[BUCKET + i] = second * BUCKET + i;
    }
  }

  #matches(slot: number, key: bigint, tag: number): boolean {
    return Atomics.load(this.#wide, slot * W + KEY) === key && Atomics.load(this.#narrow, slot * N + TAG) === tag;
  }

  #find(key: bigint, tag: number): number {
    for (const slot of this.#candidates) if (this.#matches(slot, key, tag)) return slot;
    return -1;
  }

  /** 0 when a count is now held on `slot`, IP_OVER_LIMIT, or RETRY when the slot moved under us. */
  #hold(slot: number, key: bigint, tag: number, max: number): number {
    const at = slot * N + COUNT;
    for (let current = Atomics.load(this.#narrow, at); ; ) {
      if (current < 0) return RETRY;
      if (max > 0 && current >= max) return this.#matches(slot, key, tag) ? IP_OVER_LIMIT : RETRY;
      const seen = Atomics.compareExchange(this.#narrow, at, current, current + 1);
      if (seen !== current) {
        current = seen;
        continue;
      }
      if (this.#matches(slot, key, tag)) return 0;
      Atomics.sub(this.#narrow, at, 1); // it changed hands between the look and the take
      return RETRY;
    }
  }

  /** A new entry holding one count, IP_TABLE_FULL, or RETRY after a lost race. */
  #insert(key: bigint, tag: number, now: bigint): number {
    // Power of two choices: a free slot (empty, else idle) of the bucket with more of them.
    let victim = -1;
    let victimFree = 0;
    let transient = false;
    for (let b = 0; b < 2; b++) {
      let free = 0;
      let empty = -1;
      let idle = -1;
      for (let i = b * BUCKET; i < (b + 1) * BUCKET; i++) {
        const slot = this.#candidates[i]!;
        const count = Atomics.load(this.#narrow, slot * N + COUNT);
        if (count < 0) {
          transient = true;
        } else if (count === 0 && Atomics.load(this.#wide, slot * W + KEY) === 0n) {
          free++;
          if (empty < 0) empty = slot;
        } else if (count === 0 && Atomics.load(this.#wide, slot * W + TAT) <= now) {
          free++;
          if (idle < 0) idle = slot;
        }
      }
      if (free > victimFree) {
        victimFree = free;
        victim = empty >= 0 ? empty : idle;
      }
    }
    if (victim < 0) return transient ? RETRY : IP_TABLE_FULL;
    const previous = Atomics.load(this.#wide, victim * W + KEY);
    const count = victim * N + COUNT;
    if (Atomics.compareExchange(this.#narrow, count, 0, -1) !== 0) return RETRY;
    // Ours alone now; but the entry may have been used (its bucket drawn) between the look and the CAS.
    if (Atomics.load(this.#wide, victim * W + KEY) !== previous || Atomics.load(this.#wide, victim * W + TAT) > now) {
      Atomics.store(this.#narrow, count, 0);
      return RETRY;
    }
    Atomics.store(this.#narrow, victim * N + TAG, tag);
    Atomics.store(this.#wide, victim * W + TAT, 0n);
    Atomics.store(this.#wide, victim * W + KEY, key); // published
    for (const slot of this.#candidates) {
      if (slot !== victim && this.#matches(slot, key, tag)) {
        Atomics.store(this.#wide, victim * W + KEY, 0n); // withdrawn: the key first, so nobody takes a count on it
        Atomics.store(this.#narrow, count, 0);
        return RETRY;
      }
    }
    Atomics.store(this.#narrow, count, 1);
    return victim;
  }

  #takeToken(slot: number, bucket: TokenBucket, now: bigint): boolean {
    const at = slot * W + TAT;
    for (let tat = Atomics.load(this.#wide, at); ; ) {
      const next = bucket.take(tat, now);
      if (next < 0n) return false;
      const seen = Atomics.compareExchange(this.#wide, at, tat, next);
      if (seen === tat) return true;
      tat = seen;
    }
  }
}
