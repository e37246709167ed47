// Weighted random: each eligible server with probability weight / total eligible weight.
import type { Balancer, BalancerFactory, PickContext, Random, ServerView } from "./balancer.ts";
import { atWeight, eligibleWeight } from "./eligible.ts";

/** Contract: one draw from the injected Random per pick that has a choice to make; no other state. */
export const random: BalancerFactory = (servers, rng) => new WeightedRandom(servers, rng);

class WeightedRandom implements Balancer {
  #servers: readonly ServerView[];
  readonly #random: Random;

  constructor(servers: readonly ServerView[], rng: Random) {
    this.#servers = servers;
    this.#random = rng;
  }

  pick(ctx: PickContext): number {
    const total = eligibleWeight(this.#servers, ctx);
    if (total <= 0) return -1;
    return atWeight(this.#servers, ctx, this.#random() * total);
  }

  update(servers: readonly ServerView[]): void {
    this.#servers = servers;
  }
}
