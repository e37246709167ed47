// prefer_region: per region, a balancer over that region's servers, tried before the whole upstream (edgeProxy's geo preference).
//
// Each region's tier keeps its own state (rotation, hash ring, load counts) as backups do in
// tiers.ts: a region's servers share its clients by the upstream's algorithm, and the upstream's
// own balancer, used when the region has no server up, keeps seeing every take and drop.
import type { BalancerFactory, LatencyKind, PickContext, ServerView } from "../balancing/balancer.ts";
import type { ServerConfig } from "../config/types.ts";
import { Tier } from "./tiers.ts";

export class RegionTiers {
  readonly #tiers = new Map<string, Tier>();
  /** Per server of the upstream: its region's tier (or none), and its number in that tier. */
  readonly #tierOf: (Tier | undefined)[];
  readonly #localOf: Int32Array;

  /** Null when no server has a region: nothing to prefer, no cost. */
  static of(servers: readonly ServerConfig[], factory: BalancerFactory, views: readonly ServerView[], random: () => number): RegionTiers | null {
    return servers.some((s) => s.region) ? new RegionTiers(servers, factory, views, random) : null;
  }

  private constructor(servers: readonly ServerConfig[], factory: BalancerFactory, views: readonly ServerView[], random: () => number) {
    const members = new Map<string, number[]>();
    servers.forEach((s, i) => s.region && (members.get(s.region) ?? members.set(s.region, []).get(s.region)!).push(i));
    for (const [region, list] of members) this.#tiers.set(region, new Tier(list, factory, views, random));
    this.#tierOf = servers.map((s) => (s.region ? this.#tiers.get(s.region) : undefined));
    this.#localOf = new Int32Array(servers.length);
    for (const tier of this.#tiers.values()) tier.members.forEach((server, local) => (this.#localOf[server] = local));
  }

  /** A server of `region` (upstream numbering), or -1 when none of them can be picked. */
  pick(region: string, ctx: PickContext): number {
    return this.#tiers.get(region)?.pick(ctx) ?? -1;
  }

  update(views: readonly ServerView[]): void {
    for (const tier of this.#tiers.values()) tier.update(views);
  }

  onTake(server: number): void {
    this.#tierOf[server]?.balancer.onTake?.(this.#localOf[server]!);
  }

  onDrop(server: number): void {
    this.#tierOf[server]?.balancer.onDrop?.(this.#localOf[server]!);
  }

  onLatency(server: number, kind: LatencyKind, ms: number, now: number): void {
    this.#tierOf[server]?.balancer.onLatency?.(this.#localOf[server]!, kind, ms, now);
  }
}
