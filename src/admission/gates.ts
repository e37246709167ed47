// A Worker's listener gates: each listener's ACL and per-IP limits, over the state all Workers share.
import type { ListenerConfig } from "../config/types.ts";
import { ListenerGate } from "./listener-gate.ts";
import type { SharedAdmission } from "./shared-region.ts";

/**
 * Gates are built on first use and kept with the listener config they belong to, so a reload that
 * replaces one gets a fresh gate while sessions already admitted keep theirs. Shared cells are
 * found by stable slot or by name, so they survive reloads.
 */
export class ListenerGates {
  readonly #listeners = new WeakMap<ListenerConfig, ListenerGate | null>();

  constructor(readonly shared: SharedAdmission) {}

  /** The listener's gate, or null when it sets no admission keys (nothing to check at accept). */
  listener(config: ListenerConfig, tag: number): ListenerGate | null {
    let gate = this.#listeners.get(config);
    if (gate === undefined) {
      gate = config.admission ? new ListenerGate(config.admission, this.shared.ipTable, tag) : null;
      this.#listeners.set(config, gate);
    }
    return gate;
  }

  /** A session counted by a listener gate ended. */
  releaseIp(slot: number): void {
    this.shared.ipTable.release(slot);
  }
}
