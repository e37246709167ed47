// A Worker's admission: the gates of its listeners and upstreams over the state all Workers share.
import type { Balancer } from "../balancing/balancer.ts";
import type { ListenerConfig, UpstreamConfig } from "../config/types.ts";
import type { CounterLayout } from "../shared/layout.ts";
import { ListenerGate } from "./listener-gate.ts";
import { QueueWaker } from "./queue-waker.ts";
import { ServerLimits } from "./server-limits.ts";
import { SharedAdmission } from "./shared-region.ts";
import { UpstreamGate } from "./upstream-gate.ts";

/** The parts of an upstream runtime a gate is built from. */
export interface UpstreamLike {
  readonly index: number;
  readonly config: UpstreamConfig;
  readonly balancer: Balancer;
}

/**
 * Gates are built on first use and kept with the object they belong to (a listener's config, an
 * upstream runtime), so a reload that replaces one gets fresh gates while sessions already placed
 * keep theirs. Shared cells are found by stable slot or by name, so they survive reloads.
 */
export class Admission {
  readonly shared: SharedAdmission;
  readonly #waker: QueueWaker;
  readonly #listeners = new WeakMap<ListenerConfig, ListenerGate | null>();
  readonly #upstreams = new WeakMap<UpstreamLike, UpstreamGate>();

  /** `layout` reads the current counter layout (it changes on reload; its capacities never do). */
  constructor(sab: SharedArrayBuffer, readonly layout: () => CounterLayout, readonly worker: number) {
    const now = layout();
    this.shared = new SharedAdmission(sab, now.admissionOffset, now.slots.serverCapacity, now.workers);
    this.#waker = new QueueWaker(this.shared);
  }

  /** The listener's gate, or null when it sets no admission keys (nothing to check at accept). */
  listener(config: ListenerConfig, tag: number): ListenerGate | null {
    let gate = this.#listeners.get(config);
    if (gate === undefined) {
      gate = config.admission ? new ListenerGate(config.admission, this.shared.ipTable, tag) : null;
      this.#listeners.set(config, gate);
    }
    return gate;
  }

  upstream(up: UpstreamLike): UpstreamGate {
    let gate = this.#upstreams.get(up);
    if (gate === undefined) {
      const slots = this.layout().slots.servers[up.index] ?? [];
      const limits = new ServerLimits(up.config.servers, slots, this.shared, this.worker);
      const cell = limits.any ? this.shared.queueCell(up.config.name) : -1;
      gate = new UpstreamGate(up.balancer, up.config, limits, cell, this.#waker);
      this.#upstreams.set(up, gate);
    }
    return gate;
  }

  /** A session counted by a listener gate ended. */
  releaseIp(slot: number): void {
    this.shared.ipTable.release(slot);
  }
}
