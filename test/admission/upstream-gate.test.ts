// Server limits and the upstream queue as a Worker applies them, with fake sessions and the real balancers.
import { describe, expect, test } from "bun:test";
import { NO_EXCLUSIONS } from "../../src/balancing/balancer.ts";
import { BALANCERS } from "../../src/balancing/index.ts";
import type { ServerConfig, UpstreamConfig } from "../../src/config/types.ts";
import { QueueWaker } from "../../src/admission/queue-waker.ts";
import { ServerLimits } from "../../src/admission/server-limits.ts";
import { SharedAdmission } from "../../src/admission/shared-region.ts";
import { ALL_FULL, UpstreamGate, type GateClient } from "../../src/admission/upstream-gate.ts";
import { TimerWheel, UNSCHEDULED, type TimerEntry } from "../../src/data/timer-wheel.ts";
import { L, LISTENER_CELLS, admissionBytes } from "../../src/shared/layout.ts";

const server = (maxConnections?: number, softLimit?: number): ServerConfig => ({
  name: "s", address: { host: "127.0.0.1", port: 1 }, weight: 1, backup: false,
  ...(maxConnections ? { maxConnections } : {}), ...(softLimit ? { softLimit } : {}),
});

function upstreamConfig(servers: ServerConfig[], queue = { size: 10, timeoutMs: 500 }): UpstreamConfig {
  return {
    name: "app", balance: "round_robin", connectTimeoutMs: 1000, retries: 0, pool: 0, poolMaxIdleMs: 1000,
    health: null, failThreshold: 0, ejectForMs: 1000, servers, queue,
  };
}

/** One Worker's view: a plane with a clock, a wheel and counter cells, and the gate of one upstream. */
function worker(sab: SharedArrayBuffer, index: number, config: UpstreamConfig) {
  const shared = new SharedAdmission(sab, 0, 256, 4);
  const balancer = BALANCERS.round_robin(config.servers.map((s) => ({ weight: s.weight, available: true, backup: s.backup })), Math.random);
  const limits = new ServerLimits(config.servers, config.servers.map((_, i) => i), shared, index);
  const plane = { now: 0, cells: new Float64Array(LISTENER_CELLS), wheel: new TimerWheel(100, 0) };
  const gate = new UpstreamGate(balancer, config, limits, shared.queueCell(config.name), new QueueWaker(shared));
  return { shared, plane, gate };
}

class FakeSession implements GateClient, TimerEntry {
  deadline = 0;
  timerPrev: TimerEntry | null = null;
  timerNext: TimerEntry | null = null;
  timerSlot = UNSCHEDULED;
  exclude: readonly number[] = NO_EXCLUSIONS;
  queued = false;
  readonly clientAddress = "10.0.0.1";
  readonly listener = { base: 0 };
  paused = false;
  readonly client = { pause: () => void (this.paused = true) };
  server: number | null = null;
  refused: string | null = null;

  constructor(readonly plane: ReturnType<typeof worker>["plane"], readonly gate: UpstreamGate) {}
  get now(): number {
    return this.plane.now;
  }
  busy(s: number): boolean {
    return this.gate.busy(s);
  }
  /** What Session.connect does. */
  connect(): void {
    const s = this.gate.pick(this);
    if (s === ALL_FULL) this.gate.wait(this);
    else this.connectTo(s);
  }
  connectTo(s: number): void {
    this.plane.wheel.cancel(this);
    this.server = s;
  }
  refuse(cell: number, reason: string): void {
    this.plane.cells[cell]! += 1;
    this.refused = reason;
  }
  onDeadline(): void {
    if (this.queued) this.gate.timedOut(this);
  }
  /** What Session does when it ends. */
  end(): void {
    if (this.server !== null && this.server >= 0) this.gate.release(this.server);
    this.server = null;
    this.gate.leave(this);
  }
}

const region = () => new SharedArrayBuffer(admissionBytes(256, 4));

type WorkerView = ReturnType<typeof worker>;

/** A new session in Worker `w` that has asked for a place. */
function session(w: WorkerView): FakeSession {
  const s = new FakeSession(w.plane, w.gate);
  s.connect();
  return s;
}

/** Two Workers sharing one region, and a session of the first holding the only place. */
function twoWorkersOneFull() {
  const sab = region();
  const config = upstreamConfig([server(1)], { size: 5, timeoutMs: 5000 });
  const a = worker(sab, 0, config);
  const b = worker(sab, 1, config);
  return { a, b, holder: session(a) };
}

/** Wait (at most 10 s, a busy machine included) for a change another Worker's wake-up makes. */
async function until(done: () => boolean): Promise<void> {
  const started = performance.now();
  while (!done() && performance.now() - started < 10_000) await Bun.sleep(1);
}

/**
 * How each of a Worker's waits ended, as its QueueWaker saw them: "ok" (or "not-equal", a wake-up
 * just before the wait began) when another Worker woke it, "timed-out" for the 100 ms re-check.
 * Tells woken from polled without a clock.
 */
function recordWakes(shared: SharedAdmission): string[] {
  const ends: string[] = [];
  const wait = shared.waitForSlot.bind(shared);
  shared.waitForSlot = (ms: number) => wait(ms).then((how) => (ends.push(String(how)), how));
  return ends;
}

describe("server limits", () => {
  test("a full server is passed over for this pick only; all full is ALL_FULL", () => {
    const w = worker(region(), 0, upstreamConfig([server(1), server(2)]));
    const sessions = Array.from({ length: 4 }, () => new FakeSession(w.plane, w.gate));
    for (const s of sessions.slice(0, 3)) s.connect();
    expect(sessions.slice(0, 3).map((s) => s.server).sort()).toEqual([0, 1, 1]);
    expect(sessions.every((s) => s.exclude.length === 0)).toBe(true);
    expect(w.gate.pick(sessions[3]!)).toBe(ALL_FULL);
    expect(w.shared.serverLoad(0) + w.shared.serverLoad(1)).toBe(3);
  });

  test("a full primary makes sessions queue, not spill to a backup; a primary that is down hands over", () => {
    const backup = { ...server(), backup: true };
    const config = upstreamConfig([server(1), backup]);
    const w = worker(region(), 0, config);
    const [first, second] = [new FakeSession(w.plane, w.gate), new FakeSession(w.plane, w.gate)];
    first.connect();
    expect(first.server).toBe(0);
    expect(w.gate.pick(second)).toBe(ALL_FULL);
    expect(second.exclude).toEqual([]);
    // The primary goes down: now the backup takes new sessions.
    w.gate.balancer.update([{ weight: 1, available: false, backup: false }, { weight: 1, available: true, backup: true }]);
    expect(w.gate.pick(second)).toBe(1);
  });

  test("no eligible server at all is -1, not ALL_FULL", () => {
    const w = worker(region(), 0, upstreamConfig([server(1)]));
    const s = new FakeSession(w.plane, w.gate);
    s.exclude = [0];
    expect(w.gate.pick(s)).toBe(-1);
  });

  test("busy from soft_limit on: the balancer sends new sessions to the idle server", () => {
    const w = worker(region(), 0, upstreamConfig([server(0, 1), server()]));
    while (w.shared.serverLoad(0) < 1) new FakeSession(w.plane, w.gate).connect();
    expect(w.gate.busy(0)).toBe(true);
    expect(w.gate.busy(1)).toBe(false);
    for (let i = 0; i < 5; i++) {
      const s = new FakeSession(w.plane, w.gate);
      s.connect();
      expect(s.server).toBe(1);
    }
  });

  test("servers without limits cost nothing: no shared counting, never busy", () => {
    const w = worker(region(), 0, upstreamConfig([server(), server()]));
    for (let i = 0; i < 10; i++) new FakeSession(w.plane, w.gate).connect();
    expect(w.shared.serverLoad(0) + w.shared.serverLoad(1)).toBe(0);
    expect(w.gate.busy(0)).toBe(false);
  });
});

describe("queue", () => {
  test("waits in arrival order, paused, and a freed place goes to the head", () => {
    const w = worker(region(), 0, upstreamConfig([server(1)]));
    const holder = new FakeSession(w.plane, w.gate);
    holder.connect();
    const waiting = Array.from({ length: 3 }, () => new FakeSession(w.plane, w.gate));
    for (const s of waiting) s.connect();
    expect(waiting.map((s) => [s.queued, s.paused, s.server])).toEqual([[true, true, null], [true, true, null], [true, true, null]]);
    expect(w.plane.cells[L.queued]).toBe(3);
    holder.end();
    expect(waiting.map((s) => s.server)).toEqual([0, null, null]);
    expect(waiting[0]!.queued).toBe(false);
    waiting[0]!.end();
    expect(waiting.map((s) => s.server)).toEqual([null, 0, null]);
    expect(w.plane.cells[L.queued]).toBe(1);
    expect(w.shared.serverLoad(0)).toBe(1);
  });

  test("a newcomer does not overtake sessions already waiting", () => {
    const sab = region();
    const w = worker(sab, 0, upstreamConfig([server(1)]));
    const holder = new FakeSession(w.plane, w.gate);
    holder.connect();
    const waiter = new FakeSession(w.plane, w.gate);
    waiter.connect();
    w.shared.giveServer(0, 0); // freed without a hand-off, as when another Worker's session ends
    const newcomer = new FakeSession(w.plane, w.gate);
    newcomer.connect();
    expect(newcomer.queued).toBe(true);
    w.gate.pump();
    expect(waiter.server).toBe(0);
    expect(newcomer.server).toBe(null);
  });

  test("full: refused at once with queue_full; 0 refuses without queueing", () => {
    const w = worker(region(), 0, upstreamConfig([server(1)], { size: 2, timeoutMs: 500 }));
    const sessions = Array.from({ length: 4 }, () => new FakeSession(w.plane, w.gate));
    for (const s of sessions) s.connect();
    expect(sessions.map((s) => s.refused)).toEqual([null, null, null, "queue_full"]);
    expect(w.plane.cells[L.rejectedQueueFull]).toBe(1);
    const none = worker(region(), 0, upstreamConfig([server(1)], { size: 0, timeoutMs: 500 }));
    const a = new FakeSession(none.plane, none.gate);
    const b = new FakeSession(none.plane, none.gate);
    a.connect();
    b.connect();
    expect(b.refused).toBe("queue_full");
  });

  test("a session waiting past queue_timeout is refused and leaves the queue", () => {
    const w = worker(region(), 0, upstreamConfig([server(1)], { size: 5, timeoutMs: 300 }));
    new FakeSession(w.plane, w.gate).connect();
    const late = new FakeSession(w.plane, w.gate);
    late.connect();
    w.plane.wheel.advance(200);
    expect(late.refused).toBe(null);
    w.plane.wheel.advance(400);
    expect(late.refused).toBe("queue_timeout");
    expect(late.queued).toBe(false);
    expect(w.gate.queue.length).toBe(0);
    expect(w.shared.queuedAnywhere()).toBe(0);
    expect(w.plane.cells[L.rejectedQueueTimeout]).toBe(1);
    expect(w.plane.cells[L.queued]).toBe(0);
  });

  test("first come first served across Workers: a freed place skips the local queue for an older head elsewhere", async () => {
    const { a, b, holder } = twoWorkersOneFull();
    const older = session(b);
    const younger = session(a);
    holder.end(); // in Worker a, whose own waiter arrived later
    expect(younger.server).toBe(null);
    await until(() => older.server !== null);
    expect(older.server).toBe(0);
    older.end(); // when its session ends, the place goes on to the younger one
    await until(() => younger.server !== null);
    expect(younger.server).toBe(0);
  });

  test("a waiter that gives up unblocks the Workers that deferred to it", async () => {
    const { a, b } = twoWorkersOneFull();
    const wakesOfA = recordWakes(a.shared);
    const gone = session(b);
    const next = session(a);
    a.shared.giveServer(0, 0); // a place frees, but b's head is older: a defers
    expect(a.gate.pump()).toBe(1);
    gone.end(); // its client went away
    await until(() => next.server !== null);
    expect(next.server).toBe(0);
    expect(["ok", "not-equal"]).toContain(wakesOfA.at(-1)!); // woken, not found by the 100 ms poll
  });

  test("a place freed in one Worker wakes the queue of another (Atomics.waitAsync, no messages)", async () => {
    const { a, b, holder } = twoWorkersOneFull();
    const wakesOfB = recordWakes(b.shared);
    const waiter = session(b);
    expect(waiter.queued).toBe(true);
    expect(a.gate.queue.waitingAnywhere()).toBe(1);
    holder.end();
    await until(() => waiter.server !== null);
    expect(waiter.server).toBe(0);
    expect(["ok", "not-equal"]).toContain(wakesOfB.at(-1)!); // woken, not found by the 100 ms poll
  });
});
