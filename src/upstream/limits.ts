// Per-server limits of one upstream, as one Worker applies them: `max_connections` (hard) and `soft_limit`.
import type { ServerConfig } from "../config/types.ts";
import type { SharedAdmission } from "../admission/shared-region.ts";

/**
 * A server's load is the number of sessions holding it, connecting or relaying, in every Worker:
 * one shared cell per server slot. Idle pooled sockets are not sessions and do not count.
 * Servers with neither limit are not counted at all (no shared write for them).
 */
export class ServerLimits {
  readonly #hard: Int32Array;
  readonly #soft: Int32Array;
  /** True for servers with a hard or soft limit, whose load is counted. */
  readonly #counted: Uint8Array;
  /** True when any server is counted; false makes every method a no-op. */
  readonly any: boolean;

  /** `slots[i]` is server i's stable counter slot (the same in every Worker and across reloads). */
  constructor(servers: readonly ServerConfig[], readonly slots: readonly number[], readonly shared: SharedAdmission, readonly worker: number) {
    this.#hard = Int32Array.from(servers, (s) => s.maxConnections ?? 0);
    this.#soft = Int32Array.from(servers, (s) => s.softLimit ?? 0);
    this.#counted = Uint8Array.from(servers, (s) => ((s.maxConnections ?? 0) > 0 || (s.softLimit ?? 0) > 0 ? 1 : 0));
    this.any = this.#counted.includes(1);
  }

  /** Contract: true when `server` has a soft limit and at least that many sessions hold it. */
  busy(server: number): boolean {
    const soft = this.#soft[server]!;
    return soft > 0 && this.shared.serverLoad(this.slots[server]!) >= soft;
  }

  /** Take a place on `server`; false only when it is at its hard limit. The check and the take are one CAS. */
  take(server: number): boolean {
    if (!this.#counted[server]) return true;
    return this.shared.takeServer(this.slots[server]!, this.#hard[server]!, this.worker);
  }

  /** Give back a place taken by `take`. True when the server has a hard limit (a queued session may use it). */
  give(server: number): boolean {
    if (!this.#counted[server]) return false;
    this.shared.giveServer(this.slots[server]!, this.worker);
    return this.#hard[server]! > 0;
  }
}
