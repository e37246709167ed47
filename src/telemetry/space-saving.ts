// Weighted space-saving (Metwally, Agrawal, El Abbadi 2005): the heaviest keys of a stream in k counters, with a proven bound.
//
// The guarantee, for a stream of total weight N (decayed weights included, since decay scales every
// side of every inequality alike): each listed key's true weight lies in [count - error, count];
// error <= N/k; a key not listed weighs at most `bound` <= N/k, so every key heavier than N/k is listed.
//
// Why it holds, and keeps holding after a merge: the counters sum to at most N (exactly N from adds
// alone: each add puts its weight on one counter, and an eviction hands the old count on), so once
// all k are in use the smallest is <= N/k. Until then nothing was dropped and an absent key weighs 0.
// A new key takes the smallest counter over with error = its count; the key evicted weighed at most
// that count, which stays <= the smallest counter ever after.

/** A summary as plain data: what a Worker posts to the main thread. Parallel arrays, no key twice. */
export interface SpaceSavingSnapshot {
  capacity: number;
  total: number;
  keys: string[];
  counts: number[];
  errors: number[];
}

export interface SpaceSavingEntry {
  key: string;
  count: number;
  error: number;
}

/** A bound on the table, not on memory: it rejects a typo that would allocate gigabytes. */
const MAX_CAPACITY = 1 << 20;

/** Weighted space-saving with `capacity` counters: O(log k) per add (a min-heap with positions), nothing allocated for a key already present. */
export class SpaceSaving {
  readonly capacity: number;
  #total = 0;
  #size = 0;
  readonly #keys: string[];
  readonly #counts: Float64Array;
  readonly #errors: Float64Array;
  /** heap position -> slot, ordered by count, smallest first. */
  readonly #heap: Int32Array;
  /** slot -> heap position, so a hit moves its counter without a search. */
  readonly #position: Int32Array;
  readonly #slotOf = new Map<string, number>();

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
      throw new RangeError(`space-saving capacity must be an integer from 1 to ${MAX_CAPACITY}, got ${capacity}`);
    }
    this.capacity = capacity;
    this.#keys = new Array<string>(capacity).fill("");
    this.#counts = new Float64Array(capacity);
    this.#errors = new Float64Array(capacity);
    this.#heap = new Int32Array(capacity);
    this.#position = new Int32Array(capacity);
  }

  /** Total weight seen, decayed like the counters. */
  get total(): number {
    return this.#total;
  }

  get size(): number {
    return this.#size;
  }

  /** The most a key absent from the table can weigh: the smallest counter once full, else 0 (no key was ever dropped). */
  get bound(): number {
    return this.#size === this.capacity ? this.#counts[this.#heap[0]!]! : 0;
  }

  add(key: string, weight: number): void {
    if (!(weight >= 0 && weight < Infinity)) throw new RangeError(`space-saving weight must be a finite number >= 0, got ${weight}`);
    // Nothing moved, nothing learnt: a zero weight on a full table must not evict a real key.
    if (weight === 0) return;
    this.#total += weight;
    const slot = this.#slotOf.get(key);
    if (slot !== undefined) {
      this.#counts[slot]! += weight;
      this.#siftDown(this.#position[slot]!);
      return;
    }
    if (this.#size < this.capacity) {
      this.#insert(key, weight, 0);
      return;
    }
    const victim = this.#heap[0]!;
    const smallest = this.#counts[victim]!;
    this.#slotOf.delete(this.#keys[victim]!);
    this.#slotOf.set(key, victim);
    this.#keys[victim] = key;
    this.#counts[victim] = smallest + weight;
    this.#errors[victim] = smallest;
    this.#siftDown(0);
  }

  /** Multiply every count, error and the total by `factor`: how the window forgets. Order is kept, so the heap stays valid. */
  decay(factor: number): void {
    if (!(factor > 0 && factor <= 1)) throw new RangeError(`space-saving decay factor must be in (0, 1], got ${factor}`);
    if (factor === 1) return;
    for (let slot = 0; slot < this.#size; slot++) {
      this.#counts[slot]! *= factor;
      this.#errors[slot]! *= factor;
    }
    this.#total *= factor;
  }

  /** Whether `key` is in the table: one map lookup, no allocation. */
  has(key: string): boolean {
    return this.#slotOf.has(key);
  }

  /** The estimate for `key`, or undefined when it is not in the table (then it weighs at most `bound`). */
  estimate(key: string): { count: number; error: number } | undefined {
    const slot = this.#slotOf.get(key);
    return slot === undefined ? undefined : { count: this.#counts[slot]!, error: this.#errors[slot]! };
  }

  /** The `n` heaviest entries, heaviest first; equal counts by key, so the order is deterministic. */
  top(n: number): SpaceSavingEntry[] {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`top needs an integer n >= 0, got ${n}`);
    const slots = Array.from({ length: this.#size }, (_, slot) => slot);
    slots.sort((a, b) => this.#counts[b]! - this.#counts[a]! || compareKeys(this.#keys[a]!, this.#keys[b]!));
    return slots.slice(0, n).map((slot) => ({ key: this.#keys[slot]!, count: this.#counts[slot]!, error: this.#errors[slot]! }));
  }

  snapshot(): SpaceSavingSnapshot {
    const slots = Array.from({ length: this.#size }, (_, slot) => slot);
    return {
      capacity: this.capacity,
      total: this.#total,
      keys: slots.map((s) => this.#keys[s]!),
      counts: slots.map((s) => this.#counts[s]!),
      errors: slots.map((s) => this.#errors[s]!),
    };
  }

  /** The summary a snapshot was taken of, exactly (it goes on behaving as the original would). */
  static fromSnapshot(snapshot: SpaceSavingSnapshot): SpaceSaving {
    checkSnapshot(snapshot);
    const summary = new SpaceSaving(snapshot.capacity);
    summary.#total = snapshot.total;
    snapshot.keys.forEach((key, i) => summary.#insert(key, snapshot.counts[i]!, snapshot.errors[i]!));
    return summary;
  }

  /**
   * One summary of the union of the streams (Cafaro, Pulimeno, Tempesta 2016; the bound as in
   * Agarwal et al., "Mergeable summaries", 2012). A key's merged count sums, over the inputs, its
   * count where listed and that input's `bound` where not (the most it can weigh there); its error
   * sums its error or that bound alike. The `capacity` largest are kept.
   *
   * Bound of the result, with N = sum of the inputs' totals and every input capacity >= `capacity`
   * (enforced): each count is >= the true weight and count - error <= it; error <= sum of the inputs'
   * bounds <= N/capacity; every key heavier than N/capacity is kept, since any capacity+1 merged
   * counts sum to <= N + those bounds, so the (capacity+1)-th largest is <= N/capacity. The kept counters still sum to <= N, and a result with a free
   * counter came from inputs that never dropped a key, so adds, decays and further merges of the
   * result keep the same guarantee.
   */
  static merge(snapshots: readonly SpaceSavingSnapshot[], capacity: number): SpaceSaving {
    const merged = new SpaceSaving(capacity);
    const inputs = snapshots.map((snapshot) => {
      checkSnapshot(snapshot);
      if (snapshot.capacity < capacity) {
        throw new RangeError(`cannot merge a summary of ${snapshot.capacity} counters into ${capacity}: the bound would not hold`);
      }
      const full = snapshot.keys.length === snapshot.capacity;
      const bound = full ? snapshot.counts.reduce((a, b) => Math.min(a, b)) : 0;
      return { bound, index: new Map(snapshot.keys.map((key, i) => [key, i])), snapshot };
    });
    const union = new Set(inputs.flatMap((input) => input.snapshot.keys));
    const entries: SpaceSavingEntry[] = [];
    for (const key of union) {
      let count = 0;
      let error = 0;
      for (const { bound, index, snapshot } of inputs) {
        const i = index.get(key);
        count += i === undefined ? bound : snapshot.counts[i]!;
        error += i === undefined ? bound : snapshot.errors[i]!;
      }
      entries.push({ key, count, error });
    }
    entries.sort((a, b) => b.count - a.count || compareKeys(a.key, b.key));
    for (const entry of entries.slice(0, capacity)) merged.#insert(entry.key, entry.count, entry.error);
    for (const input of inputs) merged.#total += input.snapshot.total;
    return merged;
  }

  #insert(key: string, count: number, error: number): void {
    const slot = this.#size++;
    this.#slotOf.set(key, slot);
    this.#keys[slot] = key;
    this.#counts[slot] = count;
    this.#errors[slot] = error;
    this.#heap[slot] = slot;
    this.#position[slot] = slot;
    this.#siftUp(slot);
  }

  #siftUp(at: number): void {
    const slot = this.#heap[at]!;
    const count = this.#counts[slot]!;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      const above = this.#heap[parent]!;
      if (this.#counts[above]! <= count) break;
      this.#place(above, at);
      at = parent;
    }
    this.#place(slot, at);
  }

  #siftDown(at: number): void {
    const slot = this.#heap[at]!;
    const count = this.#counts[slot]!;
    for (;;) {
      let child = 2 * at + 1;
      if (child >= this.#size) break;
      const right = child + 1;
      if (right < this.#size && this.#counts[this.#heap[right]!]! < this.#counts[this.#heap[child]!]!) child = right;
      const below = this.#heap[child]!;
      if (this.#counts[below]! >= count) break;
      this.#place(below, at);
      at = child;
    }
    this.#place(slot, at);
  }

  #place(slot: number, at: number): void {
    this.#heap[at] = slot;
    this.#position[slot] = at;
  }
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Snapshots cross a thread boundary: check the shape and the invariants a summary relies on. */
function checkSnapshot(s: SpaceSavingSnapshot): void {
  const bad = (why: string): never => {
    throw new TypeError(`bad space-saving snapshot: ${why}`);
  };
  const weight = (x: unknown): x is number => typeof x === "number" && x >= 0 && x < Infinity;
  if (typeof s !== "object" || s === null) bad("not an object");
  if (!Number.isInteger(s.capacity) || s.capacity < 1 || s.capacity > MAX_CAPACITY) bad(`capacity ${s.capacity}`);
  if (!weight(s.total)) bad(`total ${s.total}`);
  if (!Array.isArray(s.keys) || !Array.isArray(s.counts) || !Array.isArray(s.errors)) bad("keys, counts and errors must be arrays");
  if (s.keys.length > s.capacity) bad(`${s.keys.length} keys in ${s.capacity} counters`);
  if (s.counts.length !== s.keys.length || s.errors.length !== s.keys.length) bad("keys, counts and errors differ in length");
  if (new Set(s.keys).size !== s.keys.length) bad("a key appears twice");
  s.keys.forEach((key, i) => {
    const count = s.counts[i];
    const error = s.errors[i];
    if (typeof key !== "string") bad(`key ${i} is not a string`);
    if (!weight(count) || !weight(error) || error > count) bad(`entry ${JSON.stringify(key)}: need 0 <= error <= count`);
  });
}
