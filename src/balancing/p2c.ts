// Power of two choices: two distinct servers drawn by weight, the less loaded one wins.
import type { Balancer, BalancerFactory, PickContext, Random, ServerView } from "./balancer.ts";
import { ActiveCounts } from "./active.ts";
import { atWeight, eligibleWeight } from "./eligible.ts";

/**
 * Contract: two distinct eligible servers are drawn with probability proportional to weight;
 * the one with the lower cost (here active/weight) is picked, the first drawn on a tie. So an
 * idle upstream gets exactly weighted random, and under load active/weight evens out.
 */
export const p2c: BalancerFactory = (servers, rng) => new PowerOfTwoChoices(servers, rng);

/** Also the base of p2c_ewma, which only changes the cost. */
export class PowerOfTwoChoices implements Balancer {
  protected servers: readonly ServerView[];
  protected readonly active: ActiveCounts;
  readonly #random: Random;

  constructor(servers: readonly ServerView[], rng: Random) {
    this.servers = servers;
    this.active = new ActiveCounts(servers.length);
    this.#random = rng;
  }

  pick(ctx: PickContext): number {
    const total = eligibleWeight(this.servers, ctx);
    if (total <= 0) return -1;
    const first = atWeight(this.servers, ctx, this.#random() * total);
    const rest = total - this.servers[first]!.weight;
    if (rest <= 0) return first;
    const second = atWeight(this.servers, ctx, this.#random() * rest, first);
    this.beginCosts(ctx.now);
    return this.cost(second, ctx.now) < this.cost(first, ctx.now) ? second : first;
  }

  /** Called once per pick before `cost`, for costs that share per-pick work. */
  protected beginCosts(_now: number): void {}

  /** Lower is better. */
  protected cost(server: number, _now: number): number {
    return this.active.of(server) / this.servers[server]!.weight;
  }

  update(servers: readonly ServerView[]): void {
    this.servers = servers;
  }

  onTake(server: number): void {
    this.active.take(server);
  }

  onDrop(server: number): void {
    this.active.drop(server);
  }
}
