// One round of a claim: join the client's entry (taking it over when expired or stuck to `replacing`), or insert one.
// The rules that make it exact without locks are in src/stick/table.ts's header.
import type { Candidates } from "./candidates.ts";
import {
  BUCKET, BUSY, COUNT_MASK, GEN_SPAN, KEY_HI, KEY_LO, LAST, SERVER, STATE,
  generationOf, idleBeyond, letGo, nextIncarnation, wordOf,
} from "./layout.ts";

/** What `claim` returns: the id now stored, and the handle to give `release` (-1: not counted). */
export interface StickClaim {
  id: number;
  slot: number;
}

/** Outcomes of a round. */
export const DONE = 0;
export const RETRY = 1;
export const FULL = 2;

export class Claimer {
  /** Filled by a round that ends DONE. */
  readonly result: StickClaim = { id: 0, slot: -1 };
  readonly #words: Int32Array;

  constructor(readonly candidates: Candidates) {
    this.#words = candidates.words;
  }

  /** One round for the located client: DONE (see `result`), RETRY after a lost race, or FULL. */
  round(id: number, now: number, ttlMs: number, replacing: number): number {
    const slot = this.candidates.lookup();
    return slot >= 0 ? this.#join(slot, id, now, ttlMs, replacing) : this.#insert(id, now, ttlMs);
  }

  /** Count one session on the entry in `slot`, taking it over when expired or stuck to `replacing`. */
  #join(slot: number, id: number, now: number, ttlMs: number, replacing: number): number {
    const words = this.#words;
    const at = wordOf(slot, 0);
    const state = Atomics.load(words, at + STATE);
    if ((state & BUSY) !== 0) return RETRY;
    const count = state & COUNT_MASK;
    const stored = Atomics.load(words, at + SERVER);
    if (count === COUNT_MASK) return this.candidates.keyIs(at) ? this.#uncounted(stored) : RETRY;
    const takeOver = this.#mayTake(at, stored, id, replacing, count, now, ttlMs);
    if (Atomics.compareExchange(words, at + STATE, state, takeOver ? (state | BUSY) + 1 : state + 1) !== state) return RETRY;
    const generation = generationOf(state);
    if (!this.candidates.keyIs(at)) {
      this.#undo(at, generation, takeOver);
      return RETRY;
    }
    let server: number;
    if (takeOver) {
      // Ours alone: nobody else can count, take or wipe it. Judge again, on what is there now.
      server = Atomics.load(words, at + SERVER);
      if (this.#mayTake(at, server, id, replacing, count, now, ttlMs)) {
        server = id;
        Atomics.store(words, at + SERVER, id);
      }
      letGo(words, at);
    } else {
      server = Atomics.load(words, at + SERVER);
      const after = Atomics.load(words, at + STATE);
      // A wipe, or a takeover we did not see coming, overlapped: start again on what is there now.
      if ((after & BUSY) !== 0 || generationOf(after) !== generation || (server === replacing && server !== id)) {
        this.#undo(at, generation, false);
        return RETRY;
      }
    }
    this.result.id = server;
    this.result.slot = slot * GEN_SPAN + generation;
    return DONE;
  }

  /** Whether a claim for `id` takes over an entry stuck to `server`: it is `replacing`, or it expired. */
  #mayTake(at: number, server: number, id: number, replacing: number, count: number, now: number, ttlMs: number): boolean {
    if (server === id) return false;
    if (server === replacing) return true;
    return count === 0 && idleBeyond(Atomics.load(this.#words, at + LAST) >>> 0, now, ttlMs);
  }

  /** One client with 65,535 sessions open: the stored id, the session not counted. */
  #uncounted(server: number): number {
    this.result.id = server;
    this.result.slot = -1;
    return DONE;
  }

  /** Give back the count a failed join took (and the busy bit, if it took that), unless the slot was wiped since. */
  #undo(at: number, generation: number, busy: boolean): void {
    for (let current = Atomics.load(this.#words, at + STATE); ; ) {
      if (generationOf(current) !== generation || (current & COUNT_MASK) === 0) return;
      const next = busy ? (current & ~BUSY) - 1 : current - 1;
      const seen = Atomics.compareExchange(this.#words, at + STATE, current, next);
      if (seen === current) return;
      current = seen;
    }
  }

  /**
   * A new entry holding one session, or RETRY, or FULL. The slot: a free one (empty, else expired)
   * of the bucket with more of them (two choices keep buckets even); with none free, the idle entry
   * used least recently of all 16; with every candidate in use, FULL: a live entry is never evicted.
   */
  #insert(id: number, now: number, ttlMs: number): number {
    const words = this.#words;
    let victim = -1;
    let victimFree = 0;
    let lru = -1;
    let lruLast = 0;
    let transient = false;
    for (let b = 0; b < 2; b++) {
      const first = b === 0 ? this.candidates.first : this.candidates.second;
      let free = 0;
      let empty = -1;
      let expired = -1;
      for (let slot = first; slot < first + BUCKET; slot++) {
        const at = wordOf(slot, 0);
        const state = Atomics.load(words, at + STATE);
        if ((state & BUSY) !== 0) transient = true;
        else if ((state & COUNT_MASK) !== 0) continue;
        else if (Atomics.load(words, at + KEY_HI) === 0 && Atomics.load(words, at + KEY_LO) === 0) {
          free++;
          if (empty < 0) empty = slot;
        } else {
          const last = Atomics.load(words, at + LAST) >>> 0;
          if (idleBeyond(last, now, ttlMs)) {
            free++;
            if (expired < 0) expired = slot;
          } else if (lru < 0 || last < lruLast) {
            lru = slot;
            lruLast = last;
          }
        }
      }
      if (free > victimFree) {
        victimFree = free;
        victim = empty >= 0 ? empty : expired;
      }
    }
    if (victim >= 0) return this.#occupy(victim, id, now, ttlMs, -1);
    if (lru >= 0) return this.#occupy(lru, id, now, ttlMs, lruLast);
    return transient ? RETRY : FULL;
  }

  /** Take `slot` (seen empty or expired: `seenLast` -1; seen idle since tick `seenLast`) for the located client. */
  #occupy(slot: number, id: number, now: number, ttlMs: number, seenLast: number): number {
    const words = this.#words;
    const key = this.candidates.key;
    const at = wordOf(slot, 0);
    const state = Atomics.load(words, at + STATE);
    if ((state & (BUSY | COUNT_MASK)) !== 0) return RETRY;
    if (Atomics.compareExchange(words, at + STATE, state, state | BUSY) !== state) return RETRY;
    // Ours alone now, with no session open. Judge it again on what it holds now: the scan may have
    // seen an earlier incarnation, or a session may have opened and closed since.
    const empty = Atomics.load(words, at + KEY_HI) === 0 && Atomics.load(words, at + KEY_LO) === 0;
    const last = Atomics.load(words, at + LAST) >>> 0;
    if (!empty && !idleBeyond(last, now, ttlMs) && last !== seenLast) {
      Atomics.store(words, at + STATE, state); // nothing changed, and nobody could count on it meanwhile
      return RETRY;
    }
    const next = nextIncarnation(state);
    Atomics.store(words, at + SERVER, id);
    Atomics.store(words, at + LAST, now | 0);
    Atomics.store(words, at + KEY_HI, key[0]!);
    Atomics.store(words, at + KEY_LO, key[1]!); // published
    for (let b = 0; b < 2; b++) {
      const first = b === 0 ? this.candidates.first : this.candidates.second;
      for (let other = first; other < first + BUCKET; other++) {
        if (other !== slot && this.candidates.keyIs(wordOf(other, 0))) {
          // Published at once elsewhere (or there all along, mid-change): withdrawn, start over.
          Atomics.store(words, at + KEY_HI, 0);
          Atomics.store(words, at + KEY_LO, 0);
          Atomics.store(words, at + SERVER, 0);
          Atomics.store(words, at + STATE, next);
          return RETRY;
        }
      }
    }
    Atomics.store(words, at + STATE, next + 1);
    this.result.id = id;
    this.result.slot = slot * GEN_SPAN + generationOf(next);
    return DONE;
  }
}
