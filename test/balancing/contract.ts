// The contract every balancer passes: one call per algorithm gives it the whole suite.
import { describe, expect, test } from "bun:test";
import type { BalancerFactory, PickContext, ServerView } from "../../src/balancing/balancer.ts";

/** A seeded generator (mulberry32) so every run picks the same way. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ctx = (exclude: number[] = [], clientAddress = "127.0.0.1"): PickContext => ({ clientAddress, exclude, now: 0, busy: () => false });
const views = (...weights: number[]): ServerView[] => weights.map((weight) => ({ weight, available: true, backup: false }));

/** Picks `n` times, opening and closing each connection so stateful algorithms see the traffic. */
function tally(factory: BalancerFactory, servers: ServerView[], n: number): number[] {
  const balancer = factory(servers, seeded(42));
  const counts = servers.map(() => 0);
  for (let i = 0; i < n; i++) {
    const picked = balancer.pick(ctx([], `10.0.${(i >> 8) & 255}.${i & 255}`));
    counts[picked]!++;
    balancer.onOpen(picked);
    balancer.onClose(picked);
  }
  return counts;
}

export function balancerContract(name: string, factory: BalancerFactory, tolerance = 0.05): void {
  describe(`balancer contract: ${name}`, () => {
    test("no servers: -1", () => {
      expect(factory([], seeded(1)).pick(ctx())).toBe(-1);
    });

    test("every server unavailable: -1", () => {
      const servers = views(1, 1).map((v) => ({ ...v, available: false }));
      expect(factory(servers, seeded(1)).pick(ctx())).toBe(-1);
    });

    test("every server excluded: -1", () => {
      expect(factory(views(1, 1), seeded(1)).pick(ctx([0, 1]))).toBe(-1);
    });

    test("unavailable and excluded servers are never picked", () => {
      const servers = [false, true, true].map((available) => ({ weight: 1, available, backup: false }));
      const balancer = factory(servers, seeded(7));
      for (let i = 0; i < 200; i++) expect(balancer.pick(ctx([2], `10.1.0.${i}`))).toBe(1);
    });

    test(`weights are honoured within ${tolerance * 100}% over many picks`, () => {
      const weights = [1, 2, 5];
      const n = 8000;
      const counts = tally(factory, views(...weights), n);
      const total = weights.reduce((a, b) => a + b);
      weights.forEach((w, i) => expect(Math.abs(counts[i]! / n - w / total)).toBeLessThanOrEqual(tolerance));
    });

    test("deterministic under a seeded random source", () => {
      expect(tally(factory, views(1, 3, 2), 500)).toEqual(tally(factory, views(1, 3, 2), 500));
    });
  });
}
