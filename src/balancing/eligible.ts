// Which servers a pick may choose, and the weighted walk over them that several algorithms share.
import type { PickContext, ServerView } from "./balancer.ts";

/** Contract: true when `server` is available, has a positive weight and is not excluded for this pick. */
export function eligible(servers: readonly ServerView[], server: number, ctx: PickContext): boolean {
  const view = servers[server]!;
  return view.available && view.weight > 0 && !ctx.exclude.includes(server);
}

/** Sum of the weights of the eligible servers, leaving out `skip` (-1 to leave out none). */
export function eligibleWeight(servers: readonly ServerView[], ctx: PickContext, skip = -1): number {
  let total = 0;
  for (let i = 0; i < servers.length; i++) if (i !== skip && eligible(servers, i, ctx)) total += servers[i]!.weight;
  return total;
}

/**
 * The eligible server (other than `skip`) whose cumulative weight range holds `target`, where
 * 0 <= target < eligibleWeight(servers, ctx, skip). Contract: -1 only when nothing is eligible.
 */
export function atWeight(servers: readonly ServerView[], ctx: PickContext, target: number, skip = -1): number {
  let last = -1;
  for (let i = 0; i < servers.length; i++) {
    if (i === skip || !eligible(servers, i, ctx)) continue;
    last = i;
    target -= servers[i]!.weight;
    if (target < 0) return i;
  }
  return last; // only reached through rounding at the very top of the range
}
