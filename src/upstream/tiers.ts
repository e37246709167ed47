// Backup servers for every algorithm: primaries and backups are two tiers, each with its own balancer.
// The other half of the backup rule (a full primary queues, it is not replaced by a backup) is in
// assigner.ts, the only place that tells full servers from failed ones.
// Like Envoy's priority levels and HAProxy's separate active/backup trees: the backup tier's
// balancer keeps its own state (its own rotation, its own hash table), so backups share their
// load by the same algorithm when they take over, and primaries' state is never disturbed.
import { NO_EXCLUSIONS, type Balancer, type BalancerFactory, type LatencyKind, type PickContext, type ServerView } from "../balancing/balancer.ts";
import { SubContext } from "../balancing/sub-context.ts";

/**
 * Contract: the wrapped balancer picks a backup only when its inner algorithm finds no eligible
 * primary (all unavailable, excluded or zero-weight); busy primaries still come first. Which
 * servers are backups is fixed when the balancer is built (it is config: a reload builds anew).
 * An upstream without backups, or with only backups, gets the inner balancer itself: no cost.
 */
export const withBackups = (inner: BalancerFactory): BalancerFactory => (servers, random) => {
  const primaries = membersWhere(servers, false);
  const backups = membersWhere(servers, true);
  if (primaries.length === 0 || backups.length === 0) return inner(servers, random);
  return new Tiered(servers.length, [new Tier(primaries, inner, servers, random), new Tier(backups, inner, servers, random)]);
};

function membersWhere(servers: readonly ServerView[], backup: boolean): number[] {
  return servers.flatMap((s, i) => (s.backup === backup ? [i] : []));
}

/** One tier: an inner balancer over some of the servers, numbered 0.. within the tier. */
export class Tier {
  readonly balancer: Balancer;
  readonly #sub: SubContext;

  constructor(readonly members: readonly number[], factory: BalancerFactory, servers: readonly ServerView[], random: () => number) {
    this.#sub = new SubContext(members);
    this.balancer = factory(this.#views(servers), random);
  }

  /** The upstream's number of the server picked in this tier, or -1. */
  pick(ctx: PickContext): number {
    const local = this.balancer.pick(this.#sub.reset(ctx, this.#localExclude(ctx.exclude)));
    return local < 0 ? -1 : this.members[local]!;
  }

  update(servers: readonly ServerView[]): void {
    this.balancer.update(this.#views(servers));
  }

  #views(servers: readonly ServerView[]): ServerView[] {
    return this.members.map((m) => servers[m]!);
  }

  /** Exclusions come only after a failed connect or at a hard limit: allocating then is fine. */
  #localExclude(exclude: readonly number[]): readonly number[] {
    if (exclude.length === 0) return NO_EXCLUSIONS;
    const local: number[] = [];
    for (const server of exclude) {
      const i = this.members.indexOf(server);
      if (i >= 0) local.push(i);
    }
    return local;
  }
}

class Tiered implements Balancer {
  readonly #tiers: readonly Tier[];
  /** For each server of the upstream: its tier, and its number within that tier. */
  readonly #tierOf: Uint8Array;
  readonly #localOf: Int32Array;

  constructor(count: number, tiers: readonly Tier[]) {
    this.#tiers = tiers;
    this.#tierOf = new Uint8Array(count);
    this.#localOf = new Int32Array(count);
    tiers.forEach((tier, t) => tier.members.forEach((server, local) => {
      this.#tierOf[server] = t;
      this.#localOf[server] = local;
    }));
  }

  pick(ctx: PickContext): number {
    for (const tier of this.#tiers) {
      const server = tier.pick(ctx);
      if (server >= 0) return server;
    }
    return -1;
  }

  update(servers: readonly ServerView[]): void {
    for (const tier of this.#tiers) tier.update(servers);
  }

  // Each hook reaches the tier that holds the server, in that tier's numbering.
  onTake(server: number): void {
    this.#inner(server)?.onTake?.(this.#localOf[server]!);
  }

  onDrop(server: number): void {
    this.#inner(server)?.onDrop?.(this.#localOf[server]!);
  }

  onLatency(server: number, kind: LatencyKind, ms: number, now: number): void {
    this.#inner(server)?.onLatency?.(this.#localOf[server]!, kind, ms, now);
  }

  #inner(server: number): Balancer | undefined {
    return server >= 0 && server < this.#tierOf.length ? this.#tiers[this.#tierOf[server]!]!.balancer : undefined;
  }
}
