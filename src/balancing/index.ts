// Registry: the config's `balance` name to its algorithm.
import type { BalanceAlgorithm } from "../config/types.ts";
import type { BalancerFactory } from "./balancer.ts";
import { roundRobin } from "./round-robin.ts";

export const BALANCERS: Record<BalanceAlgorithm, BalancerFactory> = {
  round_robin: roundRobin,
};
