// Source hashing: the contract, plus the same client on the same server while the set is the same.
import { expect, test } from "bun:test";
import { BALANCERS } from "../../src/balancing/registry.ts";
import { hash32 } from "../../src/balancing/hash.ts";
import { balancerContract, clientIp, ctx, onlyAvailable, seeded, views } from "./contract.ts";

// 8,000 distinct client IPs hashed onto weights 1, 2, 5: as random draws, σ ≈ 0.0054 for the 5/8 share.
balancerContract("source", { tolerance: 0.025 });

const mapping = (balancer: ReturnType<typeof BALANCERS.source>, n = 2000) =>
  Array.from({ length: n }, (_, i) => balancer.pick(ctx([], clientIp(i))));

test("the same client always lands on the same server, in every Worker's balancer", () => {
  const servers = views(1, 2, 1, 1);
  const a = BALANCERS.source(servers, seeded(1));
  const b = BALANCERS.source(servers, seeded(2));
  const first = mapping(a);
  expect(mapping(a)).toEqual(first);
  expect(mapping(b)).toEqual(first);
  expect(new Set(first)).toEqual(new Set([0, 1, 2, 3]));
});

test("the mapping depends only on the set: after a server leaves and returns, every client is back", () => {
  const servers = views(1, 1, 1);
  const balancer = BALANCERS.source(servers, seeded(1));
  const before = mapping(balancer);
  balancer.update(onlyAvailable(servers, 0, 2));
  expect(mapping(balancer)).not.toContain(1);
  balancer.update(servers);
  expect(mapping(balancer)).toEqual(before);
});

test("an exclusion moves only that connection", () => {
  const balancer = BALANCERS.source(views(1, 1, 1), seeded(1));
  const home = balancer.pick(ctx([], "192.0.2.7"));
  const retry = balancer.pick(ctx([home], "192.0.2.7"));
  expect(retry).not.toBe(home);
  expect(balancer.pick(ctx([], "192.0.2.7"))).toBe(home);
});

test("an IPv4-mapped IPv6 address is the same client as the plain IPv4 address", () => {
  const balancer = BALANCERS.source(views(1, 1, 1, 1, 1), seeded(1));
  for (let i = 0; i < 200; i++) {
    expect(balancer.pick(ctx([], `::ffff:${clientIp(i)}`))).toBe(balancer.pick(ctx([], clientIp(i))));
  }
});

test("hash32 is FNV-1a with a finaliser: stable values, and neighbouring IPs spread over few buckets", () => {
  expect(hash32("")).toBe(hash32(""));
  expect(hash32("10.0.0.1")).not.toBe(hash32("10.0.0.2"));
  expect(hash32("10.0.0.1", 1)).not.toBe(hash32("10.0.0.1"));
  const buckets = [0, 0, 0, 0];
  for (let i = 0; i < 4000; i++) buckets[hash32(clientIp(i)) % 4]!++;
  for (const b of buckets) expect(Math.abs(b - 1000)).toBeLessThan(100); // σ ≈ 27
});
