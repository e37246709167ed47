// Smooth weighted round robin (nginx's algorithm): weight-3 servers are spread out, never bunched.
import type { Balancer, BalancerFactory, PickContext, ServerView } from "./balancer.ts";
import { eligible } from "./eligible.ts";

/** Contract: over any run of picks with the same eligible set, each server's share follows its weight. */
export const roundRobin: BalancerFactory = (servers) => new SmoothRoundRobin(servers);

class SmoothRoundRobin implements Balancer {
  #servers: readonly ServerView[];
  /** Each server's running score; the highest is picked and pays back the total. */
  readonly #current: Float64Array;

  constructor(servers: readonly ServerView[]) {
    this.#servers = servers;
    this.#current = new Float64Array(servers.length);
  }

  pick(ctx: PickContext): number {
    let best = -1;
    let total = 0;
    for (let i = 0; i < this.#servers.length; i++) {
      if (!eligible(this.#servers, i, ctx)) continue;
      const weight = this.#servers[i]!.weight;
      this.#current[i]! += weight;
      total += weight;
      if (best < 0 || this.#current[i]! > this.#current[best]!) best = i;
    }
    if (best >= 0) this.#current[best]! -= total;
    return best;
  }

  update(servers: readonly ServerView[]): void {
    this.#servers = servers;
  }
}
