// prefer_region and stick in the assigner, with the real balancers and a real shared stick table.
import { describe, expect, test } from "bun:test";
import { NO_EXCLUSIONS } from "../../src/balancing/balancer.ts";
import { BALANCERS } from "../../src/balancing/registry.ts";
import type { BalanceAlgorithm, ServerConfig, UpstreamConfig } from "../../src/config/types.ts";
import { SharedAdmission } from "../../src/admission/shared-region.ts";
import { QueueWaker } from "../../src/upstream/queue-waker.ts";
import { Assigner, Outcome, type Claim } from "../../src/upstream/assigner.ts";
import { UNSCHEDULED, type TimerEntry } from "../../src/primitives/timer-wheel.ts";
import { admissionBytes } from "../../src/shared/layout.ts";
import { assignerEnv } from "../helpers/assigner.ts";
import { allocateStickTable, StickTable } from "../../src/stick/table.ts";
import { newIpWords, parseIp, type IpWords } from "../../src/net/ip.ts";
import { stickId } from "../../src/upstream/sticky.ts";

const server = (port: number, region?: string, maxConnections?: number): ServerConfig => ({
  name: `127.0.0.1:${port}`, address: { host: "127.0.0.1", port }, weight: 1, backup: false,
  ...(region ? { region } : {}), ...(maxConnections ? { maxConnections } : {}),
});

function upstream(servers: ServerConfig[], extra: Partial<UpstreamConfig> = {}, balance: BalanceAlgorithm = "round_robin"): UpstreamConfig {
  return {
    name: "app", balance, connectTimeoutMs: 1000, retries: 2, pool: 0, poolMaxIdleMs: 1000,
    health: null, failThreshold: 0, ejectForMs: 1000, servers, queue: { size: 10, timeoutMs: 500 }, ...extra,
  };
}

/** One Worker's assigner over a shared admission region and (optionally) a shared stick table. */
function assigner(sab: SharedArrayBuffer, worker: number, config: UpstreamConfig, stick: StickTable | null = null): Assigner {
  const shared = new SharedAdmission(sab, 0, 256, 4, worker);
  const { env } = assignerEnv(config.servers.length, { now: 0 }, { stickTable: () => stick });
  return new Assigner(0, config, BALANCERS[config.balance], env, { shared, waker: new QueueWaker(shared), worker });
}

class FakeClaim implements Claim, TimerEntry {
  deadline = 0;
  timerPrev: TimerEntry | null = null;
  timerNext: TimerEntry | null = null;
  timerSlot = UNSCHEDULED;
  exclude: readonly number[] = NO_EXCLUSIONS;
  queued = false;
  stickSlot = -1;
  readonly #ip: IpWords;
  constructor(readonly clientAddress: string, readonly region: string | null = null) {
    this.#ip = newIpWords();
    parseIp(clientAddress, this.#ip);
  }
  clientIp(): IpWords { return this.#ip; }
  granted(): void {}
  queueing(): void {}
  onDeadline(): void {}
}

const region = () => new SharedArrayBuffer(admissionBytes(256, 4));

/** One session's pick and its end, as a Session does it. */
function visit(a: Assigner, client: string, regionName: string | null = null): number {
  const claim = new FakeClaim(client, regionName);
  const s = a.assign(claim);
  a.release(s, Outcome.ok);
  a.unstick(claim);
  return s;
}

describe("prefer_region", () => {
  const servers = [server(1, "eu-west"), server(2, "eu-west"), server(3, "us-east"), server(4)];

  test("a region's servers take its clients, by the upstream's algorithm within the region", () => {
    const a = assigner(region(), 0, upstream(servers));
    expect(Array.from({ length: 4 }, () => visit(a, "10.0.0.1", "us-east"))).toEqual([2, 2, 2, 2]);
    expect(Array.from({ length: 4 }, () => visit(a, "10.0.0.1", "eu-west"))).toEqual([0, 1, 0, 1]);
    // No region: the whole upstream, its own rotation undisturbed by the regional picks.
    expect(Array.from({ length: 4 }, () => visit(a, "10.0.0.1"))).toEqual([0, 1, 2, 3]);
    // A region no server is in: the whole upstream.
    expect(visit(a, "10.0.0.1", "ap-south")).toBe(0);
  });

  test("when no server of the region can take the session, the whole upstream does", () => {
    const a = assigner(region(), 0, upstream(servers));
    a.apply(["up", "up", "down", "up"]);
    expect(new Set(Array.from({ length: 6 }, () => visit(a, "10.0.0.1", "us-east")))).toEqual(new Set([0, 1, 3]));
    a.apply(["up", "up", "up", "up"]);
    expect(visit(a, "10.0.0.1", "us-east")).toBe(2);
  });

  test("a region's server at its hard limit spills over to the others", () => {
    const a = assigner(region(), 0, upstream([server(1, "eu-west", 1), server(2, "us-east")]));
    const held = new FakeClaim("10.0.0.1", "eu-west");
    expect(a.assign(held)).toBe(0);
    expect(a.assign(new FakeClaim("10.0.0.2", "eu-west"))).toBe(1);
  });
});

describe("stick", () => {
  const stickConfig = { stick: { ttlMs: 60_000, maxEntries: 1024 } };

  test("a client goes back to its server; other clients are balanced as ever", () => {
    const table = new StickTable(allocateStickTable(1024));
    const a = assigner(region(), 0, upstream([server(1), server(2), server(3)], stickConfig), table);
    const first = visit(a, "10.0.0.1");
    const others = ["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"].map((c) => visit(a, c));
    expect(new Set(others).size).toBeGreaterThan(1);
    for (let i = 0; i < 5; i++) expect(visit(a, "10.0.0.1")).toBe(first);
    expect(table.live(Date.now(), 60_000)).toBe(5);
  });

  test("a server that goes down is left at once, and the entry moves to the new pick", () => {
    const table = new StickTable(allocateStickTable(1024));
    const config = upstream([server(1), server(2)], stickConfig);
    const a = assigner(region(), 0, config, table);
    expect(visit(a, "10.0.0.1")).toBe(0);
    a.apply(["down", "up"]);
    expect(visit(a, "10.0.0.1")).toBe(1);
    a.apply(["up", "up"]);
    expect(visit(a, "10.0.0.1")).toBe(1); // it stays where it was moved
    const [entry] = table.entries(Date.now(), 60_000);
    expect(entry).toMatchObject({ client: "10.0.0.1", server: stickId(config.servers[1]!), sessions: 0 });
  });

  test("a draining server keeps its stuck clients (HAProxy's drain) while new clients go elsewhere; disabled, it keeps none", () => {
    const table = new StickTable(allocateStickTable(1024));
    const a = assigner(region(), 0, upstream([server(1), server(2)], stickConfig), table);
    expect(visit(a, "10.0.0.1")).toBe(0);
    a.apply(["draining", "up"]);
    expect(visit(a, "10.0.0.1")).toBe(0);
    expect([visit(a, "10.0.0.2"), visit(a, "10.0.0.3")]).toEqual([1, 1]);
    a.apply(["disabled", "up"]);
    expect(visit(a, "10.0.0.1")).toBe(1);
  });

  test("a session counts on its entry while open; a retry after a failed connect moves it without counting twice", () => {
    const table = new StickTable(allocateStickTable(1024));
    const a = assigner(region(), 0, upstream([server(1), server(2)], stickConfig), table);
    const claim = new FakeClaim("10.0.0.9");
    const s = a.assign(claim);
    expect(table.entries(Date.now(), 60_000)[0]!.sessions).toBe(1);
    a.release(s, Outcome.connectFailed);
    claim.exclude = [s];
    const retry = a.assign(claim);
    expect(retry).toBe(1 - s);
    expect(table.entries(Date.now(), 60_000)).toMatchObject([{ sessions: 1 }]);
    a.release(retry, Outcome.ok);
    a.unstick(claim);
    expect(table.entries(Date.now(), 60_000)).toMatchObject([{ sessions: 0 }]);
  });

  test("two Workers: a client stuck by one is sent to the same server by the other, whatever its own rotation says", () => {
    const sab = region();
    const buffer = allocateStickTable(1024);
    const config = upstream([server(1), server(2), server(3)], stickConfig);
    const a = assigner(sab, 0, config, new StickTable(buffer));
    const b = assigner(sab, 1, config, new StickTable(buffer)); // each Worker has its own view of the one buffer
    expect(visit(a, "192.0.2.1")).toBe(0);
    expect(visit(b, "192.0.2.50")).toBe(0); // b's rotation moves on
    expect(visit(b, "192.0.2.1")).toBe(0);
    expect(visit(b, "192.0.2.51")).toBe(1);
  });

  test("IPv6 clients stick by their /64", () => {
    const table = new StickTable(allocateStickTable(1024));
    const a = assigner(region(), 0, upstream([server(1), server(2), server(3)], stickConfig), table);
    const first = visit(a, "2001:db8:1:2::10");
    expect(visit(a, "2001:db8:1:2:ffff::1")).toBe(first);
    expect(table.live(Date.now(), 60_000)).toBe(1);
  });
});
