// Smooth weighted round robin: the contract, plus its exact interleaving.
import { expect, test } from "bun:test";
import { roundRobin } from "../../src/balancing/round-robin.ts";
import { balancerContract, ctx, seeded, views } from "./contract.ts";

balancerContract("round_robin", { tolerance: 0.001 });

test("round_robin interleaves weights smoothly (nginx's order for 5, 1, 1)", () => {
  const balancer = roundRobin(views(5, 1, 1), seeded(1));
  const order = Array.from({ length: 7 }, () => balancer.pick(ctx()));
  expect(order).toEqual([0, 0, 1, 0, 2, 0, 0]);
});
