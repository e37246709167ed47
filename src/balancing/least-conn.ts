// Weighted least connections: the fewest sessions holding a server per unit of weight; ties by smooth round robin.
import type { Balancer, BalancerFactory, PickContext, ServerView } from "./balancer.ts";
import { ActiveCounts } from "./active.ts";
import { eligible } from "./eligible.ts";

/**
 * Contract: picks an eligible server with the lowest active/weight. Among servers tied on that
 * score (always the case while every connection closes before the next opens) the choice is
 * smooth weighted round robin, so an idle upstream still sees weights honoured and no server
 * is favoured for being first in the list.
 */
export const leastConn: BalancerFactory = (servers) => new LeastConn(servers);

class LeastConn implements Balancer {
  #servers: readonly ServerView[];
  readonly #active: ActiveCounts;
  /** Smooth round robin scores, moved only for servers taking part in a tie. */
  readonly #current: Float64Array;

  constructor(servers: readonly ServerView[]) {
    this.#servers = servers;
    this.#active = new ActiveCounts(servers.length);
    this.#current = new Float64Array(servers.length);
  }

  pick(ctx: PickContext): number {
    const servers = this.#servers;
    let least = -1;
    for (let i = 0; i < servers.length; i++) {
      if (eligible(servers, i, ctx) && (least < 0 || this.#compare(i, least) < 0)) least = i;
    }
    if (least < 0) return -1;

    let best = -1;
    let total = 0;
    for (let i = 0; i < servers.length; i++) {
      if (!eligible(servers, i, ctx) || this.#compare(i, least) !== 0) continue;
      const weight = servers[i]!.weight;
      this.#current[i]! += weight;
      total += weight;
      if (best < 0 || this.#current[i]! > this.#current[best]!) best = i;
    }
    this.#current[best]! -= total;
    return best;
  }

  /** Sign of active(a)/weight(a) - active(b)/weight(b), without division (exact for integers). */
  #compare(a: number, b: number): number {
    return this.#active.of(a) * this.#servers[b]!.weight - this.#active.of(b) * this.#servers[a]!.weight;
  }

  update(servers: readonly ServerView[]): void {
    this.#servers = servers;
  }

  onTake(server: number): void {
    this.#active.take(server);
  }

  onDrop(server: number): void {
    this.#active.drop(server);
  }
}
