// Latency-aware p2c: the contract, plus steering away from a slow server and back once it recovers.
import { expect, test } from "bun:test";
import { Latency } from "../../src/balancing/balancer.ts";
import { BALANCERS } from "../../src/balancing/registry.ts";
import { EWMA_HALF_LIFE_MS } from "../../src/balancing/p2c-ewma.ts";
import { balancerContract, ctx, seeded, shares, views } from "./contract.ts";

// Without latency samples every server scores the same estimate, so the spread is p2c's.
balancerContract("p2c_ewma", { tolerance: 0.025 });

const at = (now: number) => ctx([], "127.0.0.1", () => false, now);

test("without latency samples it picks exactly as p2c does", () => {
  expect(shares(BALANCERS.p2c_ewma, views(1, 2, 5), 2000, 16)).toEqual(shares(BALANCERS.p2c, views(1, 2, 5), 2000, 16));
});

test("steers away from a high-latency server, and back to it after its latency recovers", () => {
  const balancer = BALANCERS.p2c_ewma(views(1, 1, 1), seeded(8));
  const latency = [1, 1, 50];
  const open: number[] = [];
  let now = 0;
  /** One connect per simulated millisecond, 12 open at a time; the share each server got. */
  const run = (picks: number): number[] => {
    const counts = [0, 0, 0];
    for (let i = 0; i < picks; i++) {
      now += 1;
      const server = balancer.pick(at(now));
      counts[server]!++;
      balancer.onLatency?.(server, Latency.connect, latency[server]!, now);
      balancer.onTake?.(server);
      open.push(server);
      if (open.length > 12) balancer.onDrop?.(open.shift()!);
    }
    return counts.map((c) => c / picks);
  };
  expect(run(10_000)[2]).toBeLessThan(0.01); // 10 s at 50 ms against 1 ms: only its first, unmeasured pick
  latency[2] = 1;
  // It is probed again as its old estimate decays (a few half-lives), then wins its share back.
  run(6 * EWMA_HALF_LIFE_MS);
  expect(run(5_000)[2]).toBeGreaterThan(0.28);
});

test("a server that connects as fast as the others but replies slowly gets little traffic", () => {
  // The bench's case, with samples in the order a Worker sees them: every connect takes 0.1 ms and
  // is reported at once; the reply time (0.5 ms, 0.5 ms, 5 ms) only when the reply comes. A new
  // session every 0.25 ms, each open for a 6 ms base (the client's own pace) plus its reply time.
  // With one estimate for both kinds the slow server's quick connect samples, several of them
  // before its first reply is back, pulled its estimate down: it got 6.0% here, against 2.4%.
  const balancer = BALANCERS.p2c_ewma(views(1, 1, 1), seeded(12));
  const reply = [0.5, 0.5, 5];
  const due: { at: number; reply: boolean; server: number }[] = [];
  const counts = [0, 0, 0];
  for (let i = 0; i < 40_000; i++) {
    const now = i * 0.25;
    due.sort((a, b) => a.at - b.at);
    while (due.length > 0 && due[0]!.at <= now) {
      const e = due.shift()!;
      if (e.reply) balancer.onLatency?.(e.server, Latency.reply, reply[e.server]!, e.at);
      else balancer.onDrop?.(e.server);
    }
    const server = balancer.pick(at(now));
    counts[server]!++;
    balancer.onLatency?.(server, Latency.connect, 0.1, now);
    balancer.onTake?.(server);
    due.push({ at: now + 0.1 + reply[server]!, reply: true, server }, { at: now + 6 + reply[server]!, reply: false, server });
  }
  expect(counts[2]! / 40_000).toBeLessThan(0.04);
});

test("reply time counts only once some server has given one: before that, connect latency alone decides", () => {
  const balancer = BALANCERS.p2c_ewma(views(1, 1), seeded(13));
  balancer.onLatency?.(0, Latency.connect, 1, 0);
  balancer.onLatency?.(1, Latency.connect, 3, 0);
  expect(new Set(Array.from({ length: 50 }, () => balancer.pick(at(1))))).toEqual(new Set([0]));
  // Server 0 replies slowly: 1 + 10 against 3 + 10 (neutral for server 1, which has no reply sample yet).
  balancer.onLatency?.(0, Latency.reply, 10, 1);
  expect(balancer.pick(at(2))).toBe(0);
  balancer.onLatency?.(1, Latency.reply, 0.5, 2);
  expect(new Set(Array.from({ length: 50 }, () => balancer.pick(at(3))))).toEqual(new Set([1]));
});

test("a slow server's estimate halves its distance to the best one every half-life", () => {
  // Server 0: 1 ms and 3 open (cost 1 x 4). Server 1: 50 ms, idle (cost 1 + 49 x 2^-t/H).
  const balancer = BALANCERS.p2c_ewma(views(1, 1), seeded(9));
  balancer.onLatency?.(0, Latency.connect, 1, 0);
  balancer.onLatency?.(1, Latency.connect, 50, 0);
  for (let i = 0; i < 3; i++) balancer.onTake?.(0);
  const H = EWMA_HALF_LIFE_MS;
  expect(balancer.pick(at(0))).toBe(0);
  expect(balancer.pick(at(3 * H))).toBe(0); // 1 + 49/8 = 7.1 > 4
  expect(balancer.pick(at(4.1 * H))).toBe(1); // 1 + 49/17.1 = 3.9 < 4
});

test("a server without samples scores as well as the best one, so it is tried", () => {
  const balancer = BALANCERS.p2c_ewma(views(1, 1, 1), seeded(10));
  balancer.onLatency?.(0, Latency.connect, 5, 0);
  balancer.onLatency?.(1, Latency.connect, 5, 0);
  for (const s of [0, 1]) balancer.onTake?.(s);
  expect(new Set(Array.from({ length: 50 }, () => balancer.pick(at(1))))).toContain(2);
});

test("update() keeps the latency estimates", () => {
  const balancer = BALANCERS.p2c_ewma(views(1, 1), seeded(11));
  balancer.onLatency?.(0, Latency.connect, 1, 0);
  balancer.onLatency?.(1, Latency.connect, 40, 0);
  balancer.update(views(1, 1));
  expect(new Set(Array.from({ length: 50 }, () => balancer.pick(at(1))))).toEqual(new Set([0]));
});
