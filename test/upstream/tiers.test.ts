// The backup tier: connection hooks and exclusions reach the right server in the right tier.
import { expect, test } from "bun:test";
import { Latency, type ServerView } from "../../src/balancing/balancer.ts";
import { BALANCERS as ALONE } from "../../src/balancing/registry.ts";
import { withBackups } from "../../src/upstream/tiers.ts";
import { ctx, onlyAvailable, picks, seeded } from "../balancing/contract.ts";

const BALANCERS = { least_conn: withBackups(ALONE.least_conn), p2c_ewma: withBackups(ALONE.p2c_ewma), round_robin: withBackups(ALONE.round_robin) };

// Backups interleaved with primaries, so tier numbering differs from config numbering.
const servers: ServerView[] = [true, false, true, false].map((backup) => ({ weight: 1, available: true, backup }));

test("sessions holding a server are counted against the right primary", () => {
  const balancer = BALANCERS.least_conn(servers, seeded(1));
  balancer.onTake?.(3);
  balancer.onTake?.(3);
  expect([balancer.pick(ctx()), balancer.pick(ctx())]).toEqual([1, 1]);
  balancer.onDrop?.(3);
  balancer.onDrop?.(3);
  balancer.onTake?.(1);
  expect(balancer.pick(ctx())).toBe(3);
});

test("sessions holding a server are counted against the right backup once the backups take over", () => {
  const balancer = BALANCERS.least_conn(servers, seeded(1));
  balancer.update(onlyAvailable(servers, 0, 2));
  balancer.onTake?.(0);
  expect(picks(balancer, 20)).toEqual(new Set([2]));
});

test("latency samples reach the right server", () => {
  const balancer = BALANCERS.p2c_ewma(servers, seeded(1));
  balancer.onLatency?.(1, Latency.connect, 50, 0);
  balancer.onLatency?.(3, Latency.connect, 1, 0);
  expect(picks(balancer, 50)).toEqual(new Set([3]));
});

test("an exclusion in config numbering reaches the right server of each tier", () => {
  const balancer = BALANCERS.round_robin(servers, seeded(1));
  expect(picks(balancer, 20, () => ctx([1]))).toEqual(new Set([3]));
  expect(picks(balancer, 20, () => ctx([1, 3, 0]))).toEqual(new Set([2]));
  expect(picks(balancer, 20, () => ctx([1, 3, 0, 2]))).toEqual(new Set([-1]));
});

test("an upstream of only backups balances over them all", () => {
  const balancer = BALANCERS.round_robin(servers.map((s) => ({ ...s, backup: true })), seeded(1));
  expect(picks(balancer, 8)).toEqual(new Set([0, 1, 2, 3]));
});

test("each tier keeps its own rotation: backups taking over do not disturb the primaries' order", () => {
  const balancer = BALANCERS.round_robin(servers, seeded(1));
  expect(balancer.pick(ctx())).toBe(1);
  balancer.update(onlyAvailable(servers, 0, 2));
  expect([balancer.pick(ctx()), balancer.pick(ctx())]).toEqual([0, 2]);
  balancer.update(servers);
  expect(balancer.pick(ctx())).toBe(3);
});
