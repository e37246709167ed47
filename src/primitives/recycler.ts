// The recycler: a Worker's pool of fixed-size byte chunks, carved from 1 MiB slabs that are reused
// while busy and given back once idle, so holding unsent bytes never allocates on the data path.

/** 16 KiB: small enough that an idle queue wastes little, large enough that a 512 KiB read is 32 chunks. */
export const CHUNK_SIZE = 16 * 1024;
const CHUNKS_PER_SLAB = 64; // 1 MiB slabs
const SLAB_SHIFT = 6;
export const SLAB_SIZE = CHUNKS_PER_SLAB * CHUNK_SIZE;

export class Recycler {
  /**
   * slab i holds chunks [i*64, i*64+63]; null once given back. 1 MiB is above the size JSC's
   * allocator maps on its own, so a freed slab's pages leave the process after a GC (measured:
   * 512 MiB of 1 MiB arrays back to within 4 MiB of the start RSS after `Bun.gc(true)`).
   */
  readonly slabs: (Uint8Array | null)[] = [];
  /** Free-list and queue links, one per chunk: index of the next chunk, or -1. */
  next = new Int32Array(0);
  #free = -1;
  #inUse = 0;
  #allocated = 0;
  /** Chunks taken, per slab. */
  #used: number[] = [];
  /** When trim first saw the slab empty (-1: not empty then). */
  #emptySince: number[] = [];
  #maxChunks = 0;

  /** @param maxBytes the most this Worker will ever hold for unsent data (buffer_budget). */
  constructor(maxBytes: number) {
    this.budget = maxBytes;
  }

  /** A new budget (a reload): slabs above it stay until they empty and are trimmed. */
  set budget(maxBytes: number) {
    this.#maxChunks = Math.max(CHUNKS_PER_SLAB, Math.floor(maxBytes / CHUNK_SIZE));
  }

  get chunksInUse(): number {
    return this.#inUse;
  }

  get bytesAllocated(): number {
    return this.#allocated * SLAB_SIZE;
  }

  /** Make sure `count` chunks can be taken; false when that would pass the Worker's budget. */
  reserve(count: number): boolean {
    while (this.#freeCount() < count) if (!this.#grow()) return false;
    return true;
  }

  #freeCount(): number {
    return this.#allocated * CHUNKS_PER_SLAB - this.#inUse;
  }

  /** A free chunk's index, or -1 when the Worker's budget is spent. */
  take(): number {
    if (this.#free < 0 && !this.#grow()) return -1;
    const chunk = this.#free;
    this.#free = this.next[chunk]!;
    this.next[chunk] = -1;
    this.#inUse++;
    this.#used[chunk >> SLAB_SHIFT]!++;
    return chunk;
  }

  give(chunk: number): void {
    this.next[chunk] = this.#free;
    this.#free = chunk;
    this.#inUse--;
    this.#used[chunk >> SLAB_SHIFT]!--;
  }

  slabOf(chunk: number): Uint8Array {
    return this.slabs[chunk >> SLAB_SHIFT]!;
  }

  offsetOf(chunk: number): number {
    return (chunk & (CHUNKS_PER_SLAB - 1)) * CHUNK_SIZE;
  }

  /**
   * Give back slabs that every call over `idleMs` found empty, keeping `keep` slabs. Called now and
   * then from the Worker's timer (never per chunk); returns how many it freed, so the caller can
   * run the collection that really returns their pages.
   */
  trim(now: number, idleMs: number, keep: number): number {
    const gone: number[] = [];
    for (let i = 0; i < this.slabs.length; i++) {
      if (this.slabs[i] === null) continue;
      if (this.#used[i]! > 0) this.#emptySince[i] = -1;
      else if (this.#emptySince[i]! < 0) this.#emptySince[i] = now;
      else if (now - this.#emptySince[i]! >= idleMs && this.#allocated - gone.length > keep) gone.push(i);
    }
    if (gone.length === 0) return 0;
    for (const i of gone) {
      this.slabs[i] = null;
      this.#emptySince[i] = -1;
    }
    this.#allocated -= gone.length;
    // Unlink the freed slabs' chunks from the free list (all of theirs are on it: none is taken).
    let kept = -1;
    for (let c = this.#free; c >= 0;) {
      const after = this.next[c]!;
      if (this.slabs[c >> SLAB_SHIFT] !== null) {
        this.next[c] = kept;
        kept = c;
      }
      c = after;
    }
    this.#free = kept;
    return gone.length;
  }

  #grow(): boolean {
    if ((this.#allocated + 1) * CHUNKS_PER_SLAB > this.#maxChunks) return false;
    let slab = this.slabs.indexOf(null);
    if (slab < 0) slab = this.slabs.push(null) - 1;
    this.slabs[slab] = new Uint8Array(SLAB_SIZE);
    this.#allocated++;
    this.#used[slab] = 0;
    this.#emptySince[slab] = -1;
    const first = slab * CHUNKS_PER_SLAB;
    if (this.next.length < first + CHUNKS_PER_SLAB) {
      const grown = new Int32Array(Math.max(first + CHUNKS_PER_SLAB, this.next.length * 2));
      grown.set(this.next);
      this.next = grown;
    }
    for (let c = first + CHUNKS_PER_SLAB - 1; c >= first; c--) {
      this.next[c] = this.#free;
      this.#free = c;
    }
    return true;
  }
}
