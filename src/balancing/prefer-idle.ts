// Soft limits for every algorithm: busy servers are picked only when no idle one is eligible.
import type { Balancer, BalancerFactory, LatencyKind, PickContext, ServerView } from "./balancer.ts";
import { eligible } from "./eligible.ts";
import { SubContext } from "./sub-context.ts";

/**
 * Contract: the wrapped balancer picks among eligible servers that are not `busy` whenever there
 * is one, and among all eligible servers otherwise. The inner algorithm sees busy servers as
 * excluded, so each algorithm keeps its own way of moving on (the next in order, the next hash slot).
 */
export const preferIdle = (inner: BalancerFactory): BalancerFactory => (servers, random) =>
  new PreferIdle(servers, inner(servers, random));

class PreferIdle implements Balancer {
  #servers: readonly ServerView[];
  readonly #inner: Balancer;
  readonly #sub = new SubContext();
  // The inner algorithm's hooks, passed straight through; absent when it has none.
  readonly onTake?: (server: number) => void;
  readonly onDrop?: (server: number) => void;
  readonly onLatency?: (server: number, kind: LatencyKind, ms: number, now: number) => void;

  constructor(servers: readonly ServerView[], inner: Balancer) {
    this.#servers = servers;
    this.#inner = inner;
    this.onTake = inner.onTake?.bind(inner);
    this.onDrop = inner.onDrop?.bind(inner);
    this.onLatency = inner.onLatency?.bind(inner);
  }

  pick(ctx: PickContext): number {
    let idle = 0;
    let busy = 0;
    for (let i = 0; i < this.#servers.length; i++) {
      if (!eligible(this.#servers, i, ctx)) continue;
      if (ctx.busy(i)) busy++;
      else idle++;
    }
    // The common case (nobody busy, or everybody) passes the context through untouched.
    if (busy === 0 || idle === 0) return this.#inner.pick(ctx);
    const exclude = [...ctx.exclude];
    for (let i = 0; i < this.#servers.length; i++) if (ctx.busy(i)) exclude.push(i);
    return this.#inner.pick(this.#sub.reset(ctx, exclude));
  }

  update(servers: readonly ServerView[]): void {
    this.#servers = servers;
    this.#inner.update(servers);
  }
}
