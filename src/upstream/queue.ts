// Sessions of one Worker waiting for a place on one upstream: bounded, and first come first served
// across all Workers.
import type { SharedAdmission } from "../admission/shared-region.ts";

/**
 * The bound (`queue`) is kept in the upstream's shared cell, so it holds for all Workers together.
 * The waiting sessions themselves stay in the Worker that accepted them (a socket cannot move);
 * each gets a ticket in arrival order, and each Worker publishes its head's ticket, so a freed place
 * goes to the oldest head in the process, whichever Worker holds it.
 */
export class UpstreamQueue<T> {
  /** Insertion order is arrival order: the first entry is the head. Values are tickets. */
  readonly #waiting = new Map<T, number>();

  /** `cell` is the upstream's shared queue cell, or -1 to bound (and order) this Worker's queue alone. */
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
    let ticket = 1;
    if (this.cell >= 0) {
      ticket = this.shared.enqueue(this.cell, this.size, this.worker);
      if (ticket === 0) return false;
    } else if (this.#waiting.size >= this.size) {
      return false;
    }
    this.#waiting.set(item, ticket);
    if (this.#waiting.size === 1) this.#publish();
    return true;
  }

  /** Leave from anywhere in the queue (served, timed out, or the client went away). */
  leave(item: T): void {
    const wasHead = this.head() === item;
    if (!this.#waiting.delete(item) || this.cell < 0) return;
    this.shared.dequeue(this.cell, this.worker);
    if (wasHead) this.#publish();
  }

  head(): T | undefined {
    for (const item of this.#waiting.keys()) return item;
    return undefined;
  }

  /** True when this Worker's head arrived before every other Worker's (it is served next). */
  headIsOldest(): boolean {
    if (this.cell < 0) return true;
    for (const ticket of this.#waiting.values()) return this.shared.oldestHead(this.cell) === ticket;
    return false;
  }

  #publish(): void {
    if (this.cell < 0) return;
    let ticket = 0;
    for (const t of this.#waiting.values()) {
      ticket = t;
      break;
    }
    this.shared.publishHead(this.cell, this.worker, ticket);
  }
}
