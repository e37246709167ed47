// The config's `balance` name to its algorithm and what it needs; soft limits are added once for all.
import type { BalanceAlgorithm } from "../config/types.ts";
import type { Algorithm, BalancerFactory } from "./balancer.ts";
import { consistent } from "./consistent.ts";
import { first } from "./first.ts";
import { leastConn } from "./least-conn.ts";
import { p2cEwma } from "./p2c-ewma.ts";
import { p2c } from "./p2c.ts";
import { preferIdle } from "./prefer-idle.ts";
import { random } from "./random.ts";
import { roundRobin } from "./round-robin.ts";
import { source } from "./source.ts";

/**
 * Each algorithm on its own (it picks among whatever servers it is given), and what it reads:
 * `first` ignores weights and only spreads load once servers have max_connections (as HAProxy's).
 */
export const ALGORITHMS: Record<BalanceAlgorithm, Algorithm> = {
  round_robin: { build: roundRobin, needs: ["weights"] },
  least_conn: { build: leastConn, needs: ["weights"] },
  random: { build: random, needs: ["weights"] },
  p2c: { build: p2c, needs: ["weights"] },
  p2c_ewma: { build: p2cEwma, needs: ["weights"] },
  source: { build: source, needs: ["client_address", "weights"] },
  consistent: { build: consistent, needs: ["client_address", "weights"] },
  first: { build: first, needs: ["max_connections"] },
};

/**
 * What a Worker's upstream balances with: within a tier of servers (src/upstream/tiers.ts builds
 * primaries and backups), busy servers are picked only when no idle one is eligible.
 */
export const BALANCERS = Object.fromEntries(
  Object.entries(ALGORITHMS).map(([name, algorithm]) => [name, preferIdle(algorithm.build)]),
) as Record<BalanceAlgorithm, BalancerFactory>;
