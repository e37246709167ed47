// The contract every balancer passes, as the registry builds it: one call per algorithm gives it the whole suite.
import { describe, expect, test } from "bun:test";
import type { BalanceAlgorithm } from "../../src/config/types.ts";
import { Latency, type Balancer, type BalancerFactory, type PickContext, type ServerView } from "../../src/balancing/balancer.ts";
import { BALANCERS } from "../../src/balancing/registry.ts";
import { withBackups } from "../../src/upstream/tiers.ts";

import { seeded } from "../helpers/random.ts";

export { seeded };

/** A distinct client address per i (10.0.0.0/16, then on into 10.1.x.x ...). */
export const clientIp = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

export const ctx = (exclude: number[] = [], clientAddress = "127.0.0.1", busy: (i: number) => boolean = () => false, now = 0): PickContext =>
  ({ clientAddress, exclude, now, busy });

export const views = (...weights: number[]): ServerView[] => weights.map((weight) => ({ weight, available: true, backup: false }));

/** `servers` with only the listed ones available. */
export const onlyAvailable = (servers: ServerView[], ...available: number[]): ServerView[] =>
  servers.map((s, i) => ({ ...s, available: available.includes(i) }));

/** The servers picked over `n` picks from distinct clients. */
export function picks(balancer: Balancer, n: number, context: (i: number) => PickContext = (i) => ctx([], clientIp(i))): Set<number> {
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) seen.add(balancer.pick(context(i)));
  return seen;
}

/**
 * Share of `n` picks from distinct clients per server. `concurrent` connections stay open,
 * closing oldest first, so load-aware algorithms see load; 0 closes each before the next pick.
 */
export function shares(factory: BalancerFactory, servers: ServerView[], n: number, concurrent = 0, seed = 42): number[] {
  const balancer = factory(servers, seeded(seed));
  const counts = servers.map(() => 0);
  const open: number[] = [];
  for (let i = 0; i < n; i++) {
    const picked = balancer.pick(ctx([], clientIp(i)));
    counts[picked]!++;
    balancer.onTake?.(picked);
    open.push(picked);
    if (open.length > concurrent) balancer.onDrop?.(open.shift()!);
  }
  return counts.map((c) => c / n);
}

export interface ContractOptions {
  /** Largest allowed |share - weight/total| for weights 1, 2, 5 over 8,000 picks. */
  tolerance?: number;
  /** The same with 24 connections held open (load-aware algorithms react to it); default `tolerance`. */
  loadedTolerance?: number;
  /** False for algorithms that ignore weights by design (`first`). */
  weighted?: boolean;
}

export function balancerContract(name: BalanceAlgorithm, options: ContractOptions = {}): void {
  // What an upstream builds: the algorithm with soft limits, in a primary and a backup tier.
  const factory = withBackups(BALANCERS[name]);
  const { tolerance = 0.05, weighted = true } = options;
  const loadedTolerance = options.loadedTolerance ?? tolerance;
  const weights = [1, 2, 5];
  const expected = weights.map((w) => w / 8);

  describe(`balancer contract: ${name}`, () => {
    test("no servers: -1", () => {
      expect(factory([], seeded(1)).pick(ctx())).toBe(-1);
    });

    test("every server unavailable: -1", () => {
      expect(factory(onlyAvailable(views(1, 1)), seeded(1)).pick(ctx())).toBe(-1);
    });

    test("every server excluded: -1", () => {
      expect(factory(views(1, 1), seeded(1)).pick(ctx([0, 1]))).toBe(-1);
    });

    test("unavailable and excluded servers are never picked", () => {
      const balancer = factory(onlyAvailable(views(1, 1, 1), 1, 2), seeded(7));
      expect(picks(balancer, 200, (i) => ctx([2], clientIp(i)))).toEqual(new Set([1]));
    });

    if (weighted) {
      test(`weights are honoured within ${tolerance * 100}% over 8,000 picks, each closed before the next`, () => {
        shares(factory, views(...weights), 8000).forEach((s, i) => expect(Math.abs(s - expected[i]!)).toBeLessThanOrEqual(tolerance));
      });

      test(`weights are honoured within ${loadedTolerance * 100}% over 8,000 picks with 24 connections open`, () => {
        shares(factory, views(...weights), 8000, 24).forEach((s, i) => expect(Math.abs(s - expected[i]!)).toBeLessThanOrEqual(loadedTolerance));
      });
    }

    test("deterministic under a seeded random source", () => {
      expect(shares(factory, views(1, 3, 2), 500, 8)).toEqual(shares(factory, views(1, 3, 2), 500, 8));
    });

    test("update(): a server taken out is never picked, and is picked again once it is back", () => {
      const servers = views(1, 1, 1);
      const balancer = factory(servers, seeded(3));
      // `first` reaches server 1 only past server 0.
      const context = (i: number) => ctx(weighted ? [] : [0], clientIp(i));
      expect(picks(balancer, 300, context).has(1)).toBe(true);
      balancer.update(onlyAvailable(servers, 0, 2));
      expect(picks(balancer, 300, context).has(1)).toBe(false);
      balancer.update(servers);
      expect(picks(balancer, 300, context).has(1)).toBe(true);
      balancer.update(onlyAvailable(servers));
      expect(balancer.pick(ctx())).toBe(-1);
    });

    test("busy servers are avoided while an idle one is eligible, and used when none is", () => {
      const balancer = factory(views(1, 1, 1), seeded(5));
      const busy = (...which: number[]) => (i: number) => which.includes(i);
      expect(picks(balancer, 300, (i) => ctx([], clientIp(i), busy(0))).has(0)).toBe(false);
      expect(picks(balancer, 300, (i) => ctx([], clientIp(i), busy(0, 2)))).toEqual(new Set([1]));
      expect(picks(balancer, 300, (i) => ctx([1], clientIp(i), busy(0, 2)))).not.toContain(-1);
      expect(picks(balancer, 300, (i) => ctx([1, 2], clientIp(i), busy(0, 1, 2)))).toEqual(new Set([0]));
      // Busy and unavailable: the idle one that is available wins.
      balancer.update(onlyAvailable(views(1, 1, 1), 0, 1));
      expect(picks(balancer, 300, (i) => ctx([], clientIp(i), busy(0)))).toEqual(new Set([1]));
    });

    test("backups take connections only when no primary is eligible", () => {
      const servers: ServerView[] = [false, false, true, true].map((backup) => ({ weight: 1, available: true, backup }));
      const balancer = factory(servers, seeded(9));
      const primaries = new Set(weighted ? [0, 1] : [0]);
      const backups = new Set(weighted ? [2, 3] : [2]);
      expect(picks(balancer, 300)).toEqual(primaries);
      // Busy primaries still come before idle backups.
      expect(picks(balancer, 300, (i) => ctx([], clientIp(i), (s) => s < 2))).toEqual(primaries);
      balancer.update(onlyAvailable(servers, 1, 2, 3));
      expect(picks(balancer, 300)).toEqual(new Set([1]));
      balancer.update(onlyAvailable(servers, 2, 3));
      expect(picks(balancer, 300)).toEqual(backups);
      expect(picks(balancer, 300, (i) => ctx([2], clientIp(i)))).toEqual(new Set([3]));
      balancer.update(servers);
      expect(picks(balancer, 300, (i) => ctx([0, 1], clientIp(i)))).toEqual(backups);
      expect(picks(balancer, 300)).toEqual(primaries);
      balancer.update(onlyAvailable(servers, 0, 1));
      expect(picks(balancer, 300, (i) => ctx([0, 1], clientIp(i)))).toEqual(new Set([-1]));
    });

    test("hooks for any server, in any order, never break picking", () => {
      const balancer = factory([false, true].map((backup) => ({ weight: 1, available: true, backup })), seeded(11));
      for (const server of [0, 1, -1, 2]) {
        balancer.onDrop?.(server);
        balancer.onLatency?.(server, Latency.connect, 5, 10);
        balancer.onTake?.(server);
      }
      expect(picks(balancer, 50)).toEqual(new Set([0]));
    });
  });
}
