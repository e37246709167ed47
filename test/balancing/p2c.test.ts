// Power of two choices: the contract, plus the less loaded candidate winning.
import { expect, test } from "bun:test";
import { BALANCERS } from "../../src/balancing/registry.ts";
import { balancerContract, ctx, seeded, views } from "./contract.ts";

// Weighted draws as in `random` (σ ≈ 0.0054 for the 5/8 share over 8,000); under load the
// comparison pulls active/weight level, measured within 0.012 of the weights over 20 seeds.
balancerContract("p2c", { tolerance: 0.025 });

test("the more loaded of two servers is never picked while the other is less loaded", () => {
  const balancer = BALANCERS.p2c(views(1, 1), seeded(2));
  for (let i = 0; i < 10; i++) balancer.onTake?.(0);
  const picked = Array.from({ length: 10 }, () => {
    const s = balancer.pick(ctx());
    balancer.onTake?.(s);
    return s;
  });
  expect(picked).toEqual(Array(10).fill(1));
});

test("the most loaded of three servers always loses its comparison", () => {
  const balancer = BALANCERS.p2c(views(1, 1, 1), seeded(3));
  for (let i = 0; i < 100; i++) balancer.onTake?.(0);
  const picked = new Set(Array.from({ length: 500 }, () => balancer.pick(ctx())));
  expect(picked).toEqual(new Set([1, 2]));
});

test("load is compared per unit of weight", () => {
  // 4 open on a weight-4 server is lighter than 2 open on a weight-1 server.
  const balancer = BALANCERS.p2c(views(4, 1), seeded(4));
  for (let i = 0; i < 4; i++) balancer.onTake?.(0);
  for (let i = 0; i < 2; i++) balancer.onTake?.(1);
  expect(new Set(Array.from({ length: 100 }, () => balancer.pick(ctx())))).toEqual(new Set([0]));
});
