// The 16 slots one client may live in (two buckets of 8, chosen by a seeded hash), and reading its entry there.
import { mix32 as mix } from "../shared/hash.ts";
import type { IpWords } from "../net/ip.ts";
import { clientKey } from "./client-key.ts";
import { BUCKET, BUSY, COUNT_MASK, KEY_HI, KEY_LO, LAST, SERVER, STATE, generationOf, idleBeyond, wordOf } from "./layout.ts";

/** What `read` saw of the client's entry in one bucket. */
export const ABSENT = 0;
export const LIVE = 1;
export const EXPIRED = 2;
/** A matching slot was being changed (busy, or its generation moved while it was read): read again. */
export const CHANGING = 3;

/** One thread's view of the current client: set by `locate`, then used by the calls that follow. */
export class Candidates {
  /** The client's key: [0] high half, [1] low half. */
  readonly key = new Int32Array(2);
  /** The first slot of each of the client's two buckets. */
  first = 0;
  second = 0;
  /** The server of the entry `read` found LIVE. */
  found = 0;
  readonly #buckets: number;

  constructor(readonly words: Int32Array, readonly seed: number, capacity: number) {
    this.#buckets = capacity / BUCKET;
  }

  locate(client: IpWords): void {
    const key = this.key;
    clientKey(client, key);
    const h = mix(mix(this.seed ^ key[0]!) ^ key[1]!);
    const first = h % this.#buckets;
    let second = mix(h ^ 0x85ebca6b) % this.#buckets;
    if (second === first) second = (first + 1) % this.#buckets;
    this.first = first * BUCKET;
    this.second = second * BUCKET;
  }

  /** Whether the slot whose words start at `at` holds the client's key now (one look: it may be changing). */
  keyIs(at: number): boolean {
    return Atomics.load(this.words, at + KEY_LO) === this.key[1] && Atomics.load(this.words, at + KEY_HI) === this.key[0];
  }

  /** The candidate whose key words match (not yet proven: the slot may be changing), or -1. */
  lookup(): number {
    for (let slot = this.first; slot < this.first + BUCKET; slot++) if (this.keyIs(wordOf(slot, 0))) return slot;
    for (let slot = this.second; slot < this.second + BUCKET; slot++) if (this.keyIs(wordOf(slot, 0))) return slot;
    return -1;
  }

  /** The client's entry in the bucket starting at slot `first`: LIVE (its server in `found`), EXPIRED, ABSENT or CHANGING. Changes nothing. */
  read(first: number, now: number, ttlMs: number): number {
    const words = this.words;
    for (let slot = first; slot < first + BUCKET; slot++) {
      const at = wordOf(slot, 0);
      if (!this.keyIs(at)) continue;
      // As a seqlock: the same generation, not busy, before and after: one incarnation's words.
      const before = Atomics.load(words, at + STATE);
      const server = Atomics.load(words, at + SERVER);
      const last = Atomics.load(words, at + LAST) >>> 0;
      const same = this.keyIs(at);
      const after = Atomics.load(words, at + STATE);
      if ((before & BUSY) !== 0 || (after & BUSY) !== 0 || generationOf(before) !== generationOf(after)) return CHANGING;
      if (!same) continue; // it changed hands before `before`: not this client's any more
      if ((after & COUNT_MASK) === 0 && idleBeyond(last, now, ttlMs)) return EXPIRED;
      this.found = server;
      return LIVE;
    }
    return ABSENT;
  }
}
