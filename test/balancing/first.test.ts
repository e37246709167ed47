// First: the contract (weights are ignored by design), plus filling servers in config order.
import { expect, test } from "bun:test";
import { BALANCERS } from "../../src/balancing/registry.ts";
import { balancerContract, ctx, onlyAvailable, seeded, views } from "./contract.ts";

balancerContract("first", { weighted: false });

/** Opens `n` connections with a soft limit of `soft` per server; returns where each went. */
function fill(balancer: ReturnType<typeof BALANCERS.first>, active: number[], soft: number, n: number): number[] {
  return Array.from({ length: n }, () => {
    const server = balancer.pick(ctx([], "127.0.0.1", (i) => active[i]! >= soft));
    balancer.onTake?.(server);
    active[server]!++;
    return server;
  });
}

test("servers fill in order up to their soft limit; past every limit the first takes the excess", () => {
  const active = [0, 0, 0];
  const balancer = BALANCERS.first(views(1, 5, 1), seeded(1));
  expect(fill(balancer, active, 3, 11)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 0]);
});

test("a server with room again is filled before later ones", () => {
  const active = [3, 3, 1];
  const balancer = BALANCERS.first(views(1, 1, 1), seeded(1));
  active[0] = 2; // a connection to server 0 closed
  expect(fill(balancer, active, 3, 3)).toEqual([0, 2, 2]);
});

test("unavailable and excluded servers are passed over in order", () => {
  const balancer = BALANCERS.first(onlyAvailable(views(1, 1, 1, 1), 1, 2, 3), seeded(1));
  expect(balancer.pick(ctx())).toBe(1);
  expect(balancer.pick(ctx([1]))).toBe(2);
  expect(balancer.pick(ctx([1, 2]))).toBe(3);
});
