// Sessions of one Worker waiting for a place on one upstream, first come first served, bounded process-wide.
import type { SharedAdmission } from "./shared-region.ts";

/**
 * The bound (`queue`) is kept in the upstream's shared cell, so it holds for all Workers together.
 * The waiting sessions themselves stay in the Worker that accepted them (a socket cannot move).
 */
export class UpstreamQueue<T> {
  /** Insertion order is arrival order: the first element is the head. */
  readonly #waiting = new Set<T>();

  /** `cell` is the upstream's shared queue cell, or -1 to bound this Worker's queue alone. */
  constructor(readonly shared: SharedAdmission, readonly cell: number, readonly size: number, readonly worker: number) {}

  get length(): number {
    return this.#waiting.size;
  }

  /** Sessions waiting for this upstream in every Worker. */
  waitingAnywhere(): number {
    return this.cell >= 0 ? this.shared.queued(this.cell) : this.#waiting.size;
  }

  /** Join at the back; false when `size` sessions already wait (all Workers together). */
  enter(item: T): boolean {
    if (this.cell >= 0 ? !this.shared.enqueue(this.cell, this.size, this.worker) : this.#waiting.size >= this.size) return false;
    this.#waiting.add(item);
    return true;
  }

  /** Leave from anywhere in the queue (served, timed out, or the client went away). */
  leave(item: T): void {
    if (this.#waiting.delete(item) && this.cell >= 0) this.shared.dequeue(this.cell, this.worker);
  }

  head(): T | undefined {
    for (const item of this.#waiting) return item;
    return undefined;
  }
}
