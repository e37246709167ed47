// The recycler: a Worker's pool of fixed-size byte chunks, carved from large slabs allocated once
// and reused forever, so holding unsent bytes never allocates on the data path.

/** 16 KiB: small enough that an idle queue wastes little, large enough that a 512 KiB read is 32 chunks. */
export const CHUNK_SIZE = 16 * 1024;
const CHUNKS_PER_SLAB = 64; // 1 MiB slabs
const SLAB_SHIFT = 6;

export class Recycler {
  /** slab i holds chunks [i*64, i*64+63]. */
  readonly slabs: Uint8Array[] = [];
  /** Free-list and queue links, one per chunk: index of the next chunk, or -1. */
  next = new Int32Array(0);
  #free = -1;
  #inUse = 0;
  readonly #maxChunks: number;

  /** @param maxBytes the most this Worker will ever hold for unsent data. */
  constructor(maxBytes: number) {
    this.#maxChunks = Math.max(CHUNKS_PER_SLAB, Math.floor(maxBytes / CHUNK_SIZE));
  }

  get chunksInUse(): number {
    return this.#inUse;
  }

  get bytesAllocated(): number {
    return this.slabs.length * CHUNKS_PER_SLAB * CHUNK_SIZE;
  }

  /** Make sure `count` chunks can be taken; false when that would pass the Worker's budget. */
  reserve(count: number): boolean {
    while (this.#freeCount() < count) if (!this.#grow()) return false;
    return true;
  }

  #freeCount(): number {
    return this.slabs.length * CHUNKS_PER_SLAB - this.#inUse;
  }

  /** A free chunk's index, or -1 when the Worker's budget is spent. */
  take(): number {
    if (this.#free < 0 && !this.#grow()) return -1;
    const chunk = this.#free;
    this.#free = this.next[chunk]!;
    this.next[chunk] = -1;
    this.#inUse++;
    return chunk;
  }

  give(chunk: number): void {
    this.next[chunk] = this.#free;
    this.#free = chunk;
    this.#inUse--;
  }

  slabOf(chunk: number): Uint8Array {
    return this.slabs[chunk >> SLAB_SHIFT]!;
  }

  offsetOf(chunk: number): number {
    return (chunk & (CHUNKS_PER_SLAB - 1)) * CHUNK_SIZE;
  }

  #grow(): boolean {
    const first = this.slabs.length * CHUNKS_PER_SLAB;
    if (first + CHUNKS_PER_SLAB > this.#maxChunks) return false;
    this.slabs.push(new Uint8Array(CHUNKS_PER_SLAB * CHUNK_SIZE));
    if (this.next.length < first + CHUNKS_PER_SLAB) {
      const grown = new Int32Array(Math.max(CHUNKS_PER_SLAB, this.next.length * 2));
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
