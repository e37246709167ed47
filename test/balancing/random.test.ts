// Weighted random: the contract, plus its use of the injected random source.
import { expect, test } from "bun:test";
import { BALANCERS } from "../../src/balancing/registry.ts";
import { balancerContract, ctx, views } from "./contract.ts";

// 8,000 draws: the 5/8 share has a standard deviation of 0.0054; 0.025 is over 4.5 of them.
balancerContract("random", { tolerance: 0.025 });

test("the draw maps onto the cumulative weights of the eligible servers", () => {
  let next = 0;
  const balancer = BALANCERS.random(views(1, 2, 1), () => next);
  const at = (r: number, exclude: number[] = []) => ((next = r), balancer.pick(ctx(exclude)));
  expect([at(0), at(0.24), at(0.25), at(0.74), at(0.75), at(0.999)]).toEqual([0, 0, 1, 1, 2, 2]);
  // With server 1 excluded the total is 2: the upper half is server 2.
  expect([at(0.49, [1]), at(0.5, [1])]).toEqual([0, 2]);
});
