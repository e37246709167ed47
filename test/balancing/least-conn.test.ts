// Weighted least connections: the contract, plus spreading by active/weight and fair ties.
import { expect, test } from "bun:test";
import { BALANCERS } from "../../src/balancing/registry.ts";
import { balancerContract, ctx, seeded, views } from "./contract.ts";

// Exact while idle (ties go by smooth round robin); with 24 open it stays within one connection per server.
balancerContract("least_conn", { tolerance: 0.001, loadedTolerance: 0.01 });

const open = (balancer: ReturnType<typeof BALANCERS.least_conn>, n: number): number[] =>
  Array.from({ length: n }, () => {
    const server = balancer.pick(ctx());
    balancer.onTake?.(server);
    return server;
  });

test("connections held open spread by active/weight: 40 over weights 1, 1, 2 are 10, 10, 20", () => {
  const picked = open(BALANCERS.least_conn(views(1, 1, 2), seeded(1)), 40);
  expect([0, 1, 2].map((s) => picked.filter((p) => p === s).length)).toEqual([10, 10, 20]);
});

test("a loaded server gets nothing until the others catch up, and is first once its connections close", () => {
  const balancer = BALANCERS.least_conn(views(1, 1, 1), seeded(1));
  for (let i = 0; i < 5; i++) balancer.onTake?.(0);
  const picked = open(balancer, 10);
  expect(picked.filter((p) => p === 1)).toHaveLength(5);
  expect(picked.filter((p) => p === 2)).toHaveLength(5);
  for (let i = 0; i < 5; i++) balancer.onDrop?.(0);
  expect(balancer.pick(ctx())).toBe(0);
});

test("ties rotate instead of favouring the first server", () => {
  const balancer = BALANCERS.least_conn(views(1, 1, 1), seeded(1));
  expect(Array.from({ length: 6 }, () => balancer.pick(ctx()))).toEqual([0, 1, 2, 0, 1, 2]);
});

test("update() keeps the open-connection counts", () => {
  const balancer = BALANCERS.least_conn(views(1, 1), seeded(1));
  for (let i = 0; i < 3; i++) balancer.onTake?.(0);
  balancer.update(views(1, 1));
  expect(open(balancer, 3)).toEqual([1, 1, 1]);
});
