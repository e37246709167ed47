// The last state and weight changes of servers, kept on the main thread for /metrics.json and the status page.
import type { HealthMonitor, ServerChange } from "../health/monitor.ts";

export const CHANGES_KEPT = 100;

/** A bounded list of changes, newest last; older ones fall off once `capacity` is reached. */
export class ChangeLog {
  readonly #items: ServerChange[] = [];

  constructor(readonly capacity = CHANGES_KEPT) {}

  /** Record the monitor's changes from now on (a reload's new monitor takes its listeners over). */
  follow(monitor: HealthMonitor): void {
    monitor.onChange((change) => this.push(change));
  }

  push(change: ServerChange): void {
    this.#items.push(change);
    if (this.#items.length > this.capacity) this.#items.splice(0, this.#items.length - this.capacity);
  }

  /** Newest first. */
  recent(): ServerChange[] {
    return this.#items.slice().reverse();
  }
}
