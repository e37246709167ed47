// Wakes a Worker's queues when another Worker frees a server place: Atomics.waitAsync, no messages.
import type { SharedAdmission } from "../admission/shared-region.ts";

/** Also re-checks this often without a wake-up: a server may become available (health) with no place freed. */
const POLL_MS = 100;

export interface Pumpable {
  /** Serve waiting sessions while places are free; returns how many still wait. */
  pump(): number;
}

/** One per Worker. Armed only while some queue of this Worker has sessions waiting. */
export class QueueWaker {
  readonly #queues = new Set<Pumpable>();
  #armed = false;

  constructor(readonly shared: SharedAdmission) {}

  /** `queue` has sessions waiting: pump it on every wake-up until it is empty. */
  watch(queue: Pumpable): void {
    this.#queues.add(queue);
    if (!this.#armed) this.#arm();
  }

  #arm(): void {
    this.#armed = true;
    this.shared.waitForSlot(POLL_MS).then(this.#wake);
  }

  readonly #wake = (): void => {
    this.#armed = false;
    for (const queue of this.#queues) if (queue.pump() === 0) this.#queues.delete(queue);
    if (this.#queues.size > 0) this.#arm();
  };
}
