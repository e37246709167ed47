// The last state and weight changes of servers, kept on the main thread for /metrics.json and the status
// page; and the wait until a change is applied in every Worker, before the admin API answers.
import type { AppliedResult } from "../control/snapshot-acks.ts";
import type { HealthMonitor, ServerChange } from "../health/monitor.ts";
import { failure } from "./http.ts";

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

/** How long a state or weight change waits for every Worker to apply it before answering 504. */
export const APPLY_TIMEOUT_MS = 5000;

/** A source that can say when a change reached every Worker (the Supervisor; absent in some tests). */
export interface AppliedWait {
  untilApplied?(timeoutMs: number): Promise<AppliedResult>;
}

/**
 * Wait until the change just made is in effect in every Worker. Null when it is (or nothing can
 * tell); otherwise the 504 to answer, naming the Workers that did not confirm.
 */
export async function awaitApplied(source: AppliedWait): Promise<Response | null> {
  if (!source.untilApplied) return null;
  const result = await source.untilApplied(APPLY_TIMEOUT_MS);
  if (result.ok) return null;
  const who = result.missing.map((w) => `Worker ${w}`).join(", ");
  return failure(504, `the change is recorded, but ${who} did not confirm applying it within ${APPLY_TIMEOUT_MS / 1000} s`, { workers_missing: result.missing, seq: result.seq });
}
