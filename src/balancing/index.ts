// Registry: the config's `balance` name to its algorithm, with soft limits and backups added once for all.
import type { BalanceAlgorithm } from "../config/types.ts";
import type { BalancerFactory } from "./balancer.ts";
import { withBackups } from "./backup.ts";
import { consistent } from "./consistent.ts";
import { first } from "./first.ts";
import { leastConn } from "./least-conn.ts";
import { p2cEwma } from "./p2c-ewma.ts";
import { p2c } from "./p2c.ts";
import { preferIdle } from "./prefer-idle.ts";
import { random } from "./random.ts";
import { roundRobin } from "./round-robin.ts";
import { source } from "./source.ts";

/** Each algorithm on its own: picks among whatever servers it is given. */
export const ALGORITHMS: Record<BalanceAlgorithm, BalancerFactory> = {
  round_robin: roundRobin,
  least_conn: leastConn,
  random,
  p2c,
  p2c_ewma: p2cEwma,
  source,
  consistent,
  first,
};

/**
 * What a Worker builds. Backups form a second tier with its own balancer, tried only when the
 * primaries' finds nothing eligible; within a tier, busy servers are picked only when no idle
 * one is eligible.
 */
export const BALANCERS = Object.fromEntries(
  Object.entries(ALGORITHMS).map(([name, factory]) => [name, withBackups(preferIdle(factory))]),
) as Record<BalanceAlgorithm, BalancerFactory>;
