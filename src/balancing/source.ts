// Source hashing: the client IP's hash, modulo the total eligible weight (HAProxy's map-based `source`).
import type { Balancer, BalancerFactory, PickContext, ServerView } from "./balancer.ts";
import { atWeight, eligibleWeight } from "./eligible.ts";
import { clientKey, hash32 } from "./hash.ts";

/**
 * Contract: a pure function of the client IP and the set of eligible servers with their weights:
 * the same client lands on the same server for as long as that set is the same, and weights set
 * each server's share of clients. When the set changes most clients move; `consistent` is the
 * algorithm for sets that change. Uses no randomness and keeps no state.
 */
export const source: BalancerFactory = (servers) => new SourceHash(servers);

class SourceHash implements Balancer {
  #servers: readonly ServerView[];

  constructor(servers: readonly ServerView[]) {
    this.#servers = servers;
  }

  pick(ctx: PickContext): number {
    const total = eligibleWeight(this.#servers, ctx);
    if (total <= 0) return -1;
    return atWeight(this.#servers, ctx, hash32(clientKey(ctx.clientAddress)) % total);
  }

  update(servers: readonly ServerView[]): void {
    this.#servers = servers;
  }
}
