// Unsent bytes of one relay direction, held as a linked chain of the recycler's fixed-size chunks.
import { CHUNK_SIZE, type Recycler } from "./recycler.ts";

/** The one call the queue makes on a socket: Bun's `write(buffer, offset, length)`. */
export interface Writable {
  write(data: Uint8Array, byteOffset: number, byteLength: number): number;
}

const copy = Buffer.prototype.copy as (
  this: Uint8Array, target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number,
) => number;

export class ByteQueue {
  #head = -1;
  #tail = -1;
  /** Read position inside the head chunk. */
  #headStart = 0;
  /** Write position inside the tail chunk. */
  #tailEnd = 0;
  size = 0;
  /**
   * Bytes that did not fit under the Worker's budget: the read's own buffer, kept (Bun never
   * reuses it) rather than refused, behind every chunk. Its owner pauses the reader.
   */
  #over: Uint8Array | null = null;
  #overFrom = 0;

  /** @param capacity bytes held before the reader must pause (buffer_limit); the session sets it. */
  constructor(readonly recycler: Recycler, public capacity: number) {}

  get empty(): boolean {
    return this.size === 0;
  }

  /** At or past the limit: the side that fills it must stop reading. */
  get full(): boolean {
    return this.#over !== null || this.size >= this.capacity;
  }

  /**
   * Queue `src[from..]` at the tail, copied into chunks while the Worker's budget allows, else
   * kept as it is (see #over), so no byte is ever refused. Always true. Copied even past
   * `capacity`: the read is already taken (Bun reads up to 512 KiB at once, whatever the limit),
   * and keeping Bun's buffer would hold its already-written head too (measured: 1,000 stuck
   * sessions kept 313 MiB of read buffers for 181 MiB of unsent bytes). The reader pauses, so
   * past `capacity` a queue grows by at most one read.
   */
  push(src: Uint8Array, from: number): boolean {
    const length = src.length - from;
    if (length <= 0) return true;
    if (this === NO_QUEUE) throw new Error("push on NO_QUEUE: take a queue from the Worker's QueuePool first");
    const rec = this.recycler;
    const room = this.#tail < 0 ? 0 : CHUNK_SIZE - this.#tailEnd;
    if (this.#over !== null || (length > room && !rec.reserve(Math.ceil((length - room) / CHUNK_SIZE)))) {
      this.#hold(src, from);
      this.size += length;
      return true;
    }
    let offset = from;
    while (offset < src.length) {
      if (this.#tail < 0 || this.#tailEnd === CHUNK_SIZE) {
        const chunk = rec.take(); // cannot fail: reserved above
        if (this.#tail < 0) {
          this.#head = chunk;
          this.#headStart = 0;
        } else {
          rec.next[this.#tail] = chunk;
        }
        this.#tail = chunk;
        this.#tailEnd = 0;
      }
      const n = Math.min(CHUNK_SIZE - this.#tailEnd, src.length - offset);
      copy.call(src, rec.slabOf(this.#tail), rec.offsetOf(this.#tail) + this.#tailEnd, offset, offset + n);
      this.#tailEnd += n;
      offset += n;
    }
    this.size += length;
    return true;
  }

  #hold(src: Uint8Array, from: number): void {
    if (this.#over === null) {
      this.#over = src;
      this.#overFrom = from;
      return;
    }
    // A second read while the first is held: the reader was paused, so this is rare; join them.
    const joined = new Uint8Array(this.#over.length - this.#overFrom + src.length - from);
    joined.set(this.#over.subarray(this.#overFrom));
    joined.set(src.subarray(from), this.#over.length - this.#overFrom);
    this.#over = joined;
    this.#overFrom = 0;
  }

  /**
   * Write as much as the socket takes, oldest bytes first. Returns the number of bytes written,
   * or -1 if the socket is closed. The queue is empty afterwards exactly when `size === 0`.
   */
  writeTo(socket: Writable): number {
    const rec = this.recycler;
    let written = 0;
    while (this.#head >= 0) {
      const end = this.#head === this.#tail ? this.#tailEnd : CHUNK_SIZE;
      const length = end - this.#headStart;
      const n = length === 0 ? 0 : socket.write(rec.slabOf(this.#head), rec.offsetOf(this.#head) + this.#headStart, length);
      if (n < 0) return -1;
      written += n;
      this.size -= n;
      this.#headStart += n;
      if (n < length) return written;
      this.#popHead();
    }
    const over = this.#over;
    if (over !== null) {
      const length = over.length - this.#overFrom;
      const n = socket.write(over, this.#overFrom, length);
      if (n < 0) return -1;
      written += n;
      this.size -= n;
      this.#overFrom += n;
      if (n === length) this.#over = null;
    }
    return written;
  }

  /**
   * A copy of every queued byte, oldest first, leaving the queue as it is. It allocates: for the
   * route stage reading a client's first bytes, never for the relay.
   */
  copyOut(): Uint8Array {
    const out = new Uint8Array(this.size);
    const rec = this.recycler;
    let at = 0;
    for (let chunk = this.#head; chunk >= 0 && at < out.length; chunk = rec.next[chunk]!) {
      const start = chunk === this.#head ? this.#headStart : 0;
      const end = chunk === this.#tail ? this.#tailEnd : CHUNK_SIZE;
      copy.call(rec.slabOf(chunk), out, at, rec.offsetOf(chunk) + start, rec.offsetOf(chunk) + end);
      at += end - start;
      if (chunk === this.#tail) break;
    }
    if (this.#over !== null) out.set(this.#over.subarray(this.#overFrom), at);
    return out;
  }

  /**
   * Copy the oldest queued bytes into `out` from `at`, as many as fit, leaving the queue as it is;
   * returns how many. No allocation: for a small header written with the bytes behind it.
   */
  copyInto(out: Uint8Array, at: number): number {
    const rec = this.recycler;
    let copied = 0;
    for (let chunk = this.#head; chunk >= 0 && at + copied < out.length; chunk = rec.next[chunk]!) {
      const start = chunk === this.#head ? this.#headStart : 0;
      const end = Math.min(chunk === this.#tail ? this.#tailEnd : CHUNK_SIZE, start + out.length - at - copied);
      copy.call(rec.slabOf(chunk), out, at + copied, rec.offsetOf(chunk) + start, rec.offsetOf(chunk) + end);
      copied += end - start;
      if (chunk === this.#tail) break;
    }
    const over = this.#over;
    if (over !== null && copied === this.size - (over.length - this.#overFrom)) {
      const n = Math.min(over.length - this.#overFrom, out.length - at - copied);
      out.set(over.subarray(this.#overFrom, this.#overFrom + n), at + copied);
      copied += n;
    }
    return copied;
  }

  /** Drop the oldest `n` bytes (at most what is queued), as a write of them would. */
  discard(n: number): void {
    let left = Math.min(n, this.size);
    this.size -= left;
    while (left > 0 && this.#head >= 0) {
      const end = this.#head === this.#tail ? this.#tailEnd : CHUNK_SIZE;
      const inHead = end - this.#headStart;
      if (left < inHead) {
        this.#headStart += left;
        return;
      }
      left -= inHead;
      this.#popHead();
    }
    if (left > 0 && this.#over !== null) {
      this.#overFrom += left;
      if (this.#overFrom >= this.#over.length) this.#over = null;
    }
    if (this.size === 0) this.clear();
  }

  /** Give every chunk back; the bytes are discarded. */
  clear(): void {
    while (this.#head >= 0) this.#popHead();
    this.#over = null;
    this.size = 0;
  }

  #popHead(): void {
    const chunk = this.#head;
    const next = this.recycler.next[chunk]!;
    this.recycler.give(chunk);
    if (chunk === this.#tail) {
      this.#head = this.#tail = -1;
      this.#tailEnd = 0;
    } else {
      this.#head = next;
    }
    this.#headStart = 0;
  }
}

/**
 * The queue of a direction that has nothing queued: one shared, always empty object (empty, size
 * 0, never full), so reading a session's queues needs no null checks. Never pushed to (push throws):
 * a direction takes a real queue from its Worker's QueuePool at its first short write.
 */
export const NO_QUEUE: ByteQueue = new ByteQueue(null as unknown as Recycler, Infinity);

/** How many spare queue objects a Worker keeps (beyond that, given-back ones are left to the GC). */
const MAX_SPARE = 1024;

/**
 * A Worker's spare queue objects. A direction takes one at its first short write and gives it back
 * once it is empty again, so an idle session holds none (two queue objects were 160 of its bytes)
 * and the relay, once warm, allocates no queue either.
 */
export class QueuePool {
  readonly #spare: ByteQueue[] = [];

  constructor(readonly recycler: Recycler) {}

  /** A queue holding nothing, `capacity` (buffer_limit) bytes before its reader must pause. */
  take(capacity: number): ByteQueue {
    const queue = this.#spare.pop() ?? new ByteQueue(this.recycler, capacity);
    queue.capacity = capacity;
    return queue;
  }

  /** Takes `queue` back, dropping what it holds (its chunks go back to the recycler); returns NO_QUEUE to store in its place. */
  give(queue: ByteQueue): ByteQueue {
    if (queue === NO_QUEUE) return NO_QUEUE;
    queue.clear();
    if (this.#spare.length < MAX_SPARE) this.#spare.push(queue);
    return NO_QUEUE;
  }

  /** Spare queues kept (for tests). */
  get spare(): number {
    return this.#spare.length;
  }
}
