// First: fill servers in config order; the first eligible server takes every new connection.
import type { Balancer, BalancerFactory, PickContext, ServerView } from "./balancer.ts";
import { eligible } from "./eligible.ts";

/**
 * Contract: the lowest-numbered eligible server. Weights are ignored (as in HAProxy's `first`):
 * a server's share is bounded by its limits instead. Busy servers (at their soft limit) are
 * passed over by the registry's prefer-idle wrapper while any later server is idle, and a server
 * at its hard limit arrives excluded, so servers fill one after another and the last ones can be
 * stopped when idle.
 */
export const first: BalancerFactory = (servers) => new FirstFit(servers);

class FirstFit implements Balancer {
  #servers: readonly ServerView[];

  constructor(servers: readonly ServerView[]) {
    this.#servers = servers;
  }

  pick(ctx: PickContext): number {
    for (let i = 0; i < this.#servers.length; i++) if (eligible(this.#servers, i, ctx)) return i;
    return -1;
  }

  update(servers: readonly ServerView[]): void {
    this.#servers = servers;
  }
}
