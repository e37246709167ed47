// Where a server is picked: limits, the queue, the backup rule and the balancer's hooks, with fake sessions and the real balancers.
import { describe, expect, test } from "bun:test";
import { NO_EXCLUSIONS } from "../../src/balancing/balancer.ts";
import { BALANCERS } from "../../src/balancing/registry.ts";
import type { BalanceAlgorithm, ServerConfig, UpstreamConfig } from "../../src/config/types.ts";
import { QueueWaker } from "../../src/upstream/queue-waker.ts";
import { SharedAdmission } from "../../src/admission/shared-region.ts";
import { Assigner, NO_SERVER, Outcome, QUEUED, QUEUE_FULL, type Claim } from "../../src/upstream/assigner.ts";
import { UNSCHEDULED, type TimerEntry } from "../../src/primitives/timer-wheel.ts";
import { L, LISTENER_CELLS, S, SERVER_CELLS, admissionBytes } from "../../src/shared/layout.ts";
import { assignerEnv } from "../helpers/assigner.ts";

const server = (maxConnections?: number, softLimit?: number): ServerConfig => ({
  name: "s", address: { host: "127.0.0.1", port: 1 }, weight: 1, backup: false,
  ...(maxConnections ? { maxConnections } : {}), ...(softLimit ? { softLimit } : {}),
});

function upstreamConfig(servers: ServerConfig[], queue = { size: 10, timeoutMs: 500 }, balance: BalanceAlgorithm = "round_robin"): UpstreamConfig {
  return {
    name: "app", balance, connectTimeoutMs: 1000, retries: 0, pool: 0, poolMaxIdleMs: 1000,
    health: null, failThreshold: 0, ejectForMs: 1000, servers, queue,
  };
}

/**
 * One Worker's view: a plane with a clock, a wheel and counter cells (listener cells first, then
 * the servers'), and the assigner of one upstream. `index` is the Worker's number.
 */
function worker(sab: SharedArrayBuffer, index: number, config: UpstreamConfig) {
  const shared = new SharedAdmission(sab, 0, 256, 4);
  const failures: number[] = [];
  const clock = { now: 0 };
  const { env, cells, wheel } = assignerEnv(config.servers.length, clock, { reportFailure: (_u, s) => void failures.push(s) });
  const plane = { get now() { return clock.now; }, set now(t: number) { clock.now = t; }, cells, wheel };
  const assigner = new Assigner(0, config, BALANCERS[config.balance], env, { shared, waker: new QueueWaker(shared), worker: index });
  return { shared, plane, assigner, failures };
}

/** What a Session does with its assigner, and nothing else. */
class FakeSession implements Claim, TimerEntry {
  deadline = 0;
  timerPrev: TimerEntry | null = null;
  timerNext: TimerEntry | null = null;
  timerSlot = UNSCHEDULED;
  exclude: readonly number[] = NO_EXCLUSIONS;
  queued = false;
  readonly clientAddress = "10.0.0.1";
  readonly region = null;
  stickSlot = -1;
  clientIp() {
    return null;
  }
  paused = false;
  server: number | null = null;
  refused: string | null = null;

  constructor(readonly plane: ReturnType<typeof worker>["plane"], readonly assigner: Assigner) {}
  /** What Session.connect does. */
  connect(): void {
    const s = this.assigner.assign(this);
    if (s === QUEUE_FULL) this.refuse(L.rejectedQueueFull, "queue_full");
    else if (s !== QUEUED) this.granted(s);
  }
  granted(s: number): void {
    this.plane.wheel.cancel(this);
    this.server = s;
  }
  queueing(waiting: boolean): void {
    this.plane.cells[L.queued]! += waiting ? 1 : -1;
    if (waiting) this.paused = true;
  }
  refuse(cell: number, reason: string): void {
    this.plane.cells[cell]! += 1;
    this.refused = reason;
  }
  onDeadline(): void {
    if (!this.queued) return;
    this.assigner.withdraw(this);
    this.refuse(L.rejectedQueueTimeout, "queue_timeout");
  }
  /** What Session does when it ends. */
  end(outcome: Outcome = Outcome.ok): void {
    if (this.server !== null && this.server >= 0) this.assigner.release(this.server, outcome);
    this.server = null;
    this.assigner.withdraw(this);
  }
}

const region = () => new SharedArrayBuffer(admissionBytes(256, 4));

type WorkerView = ReturnType<typeof worker>;

/** A new session in Worker `w` that has asked for a place. */
function session(w: WorkerView): FakeSession {
  const s = new FakeSession(w.plane, w.assigner);
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
  test("a full server is passed over for this pick only; all full is QUEUED", () => {
    const w = worker(region(), 0, upstreamConfig([server(1), server(2)]));
    const sessions = Array.from({ length: 4 }, () => new FakeSession(w.plane, w.assigner));
    for (const s of sessions.slice(0, 3)) s.connect();
    expect(sessions.slice(0, 3).map((s) => s.server).sort()).toEqual([0, 1, 1]);
    expect(sessions.every((s) => s.exclude.length === 0)).toBe(true);
    expect(w.assigner.assign(sessions[3]!)).toBe(QUEUED);
    expect(sessions[3]!.exclude).toEqual([]);
    expect(w.shared.serverLoad(0) + w.shared.serverLoad(1)).toBe(3);
  });

  test("a full primary makes sessions queue, not spill to a backup; a primary that is down hands over", () => {
    const backup = { ...server(), backup: true };
    const config = upstreamConfig([server(1), backup]);
    const w = worker(region(), 0, config);
    const [first, second] = [new FakeSession(w.plane, w.assigner), new FakeSession(w.plane, w.assigner)];
    first.connect();
    expect(first.server).toBe(0);
    expect(w.assigner.assign(second)).toBe(QUEUED);
    expect(second.exclude).toEqual([]);
    // The primary goes down: now the backup takes the waiting session (the waker pumps on its poll).
    w.assigner.apply(["down", "up"]);
    w.assigner.pump();
    expect(second.server).toBe(1);
  });

  test("no eligible server at all is NO_SERVER, not QUEUED", () => {
    const w = worker(region(), 0, upstreamConfig([server(1)]));
    const s = new FakeSession(w.plane, w.assigner);
    s.exclude = [0];
    expect(w.assigner.assign(s)).toBe(NO_SERVER);
  });

  test("busy from soft_limit on: the balancer sends new sessions to the idle server", () => {
    const w = worker(region(), 0, upstreamConfig([server(0, 1), server()]));
    while (w.shared.serverLoad(0) < 1) new FakeSession(w.plane, w.assigner).connect();
    expect(w.assigner.limits.busy(0)).toBe(true);
    expect(w.assigner.limits.busy(1)).toBe(false);
    for (let i = 0; i < 5; i++) {
      const s = new FakeSession(w.plane, w.assigner);
      s.connect();
      expect(s.server).toBe(1);
    }
  });

  test("servers without limits cost nothing: no shared counting, never busy", () => {
    const w = worker(region(), 0, upstreamConfig([server(), server()]));
    for (let i = 0; i < 10; i++) new FakeSession(w.plane, w.assigner).connect();
    expect(w.shared.serverLoad(0) + w.shared.serverLoad(1)).toBe(0);
    expect(w.assigner.limits.busy(0)).toBe(false);
  });
});

describe("queue", () => {
  test("waits in arrival order, paused, and a freed place goes to the head", () => {
    const w = worker(region(), 0, upstreamConfig([server(1)]));
    const holder = new FakeSession(w.plane, w.assigner);
    holder.connect();
    const waiting = Array.from({ length: 3 }, () => new FakeSession(w.plane, w.assigner));
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
    const holder = new FakeSession(w.plane, w.assigner);
    holder.connect();
    const waiter = new FakeSession(w.plane, w.assigner);
    waiter.connect();
    w.shared.giveServer(0, 0); // freed without a hand-off, as when another Worker's session ends
    const newcomer = new FakeSession(w.plane, w.assigner);
    newcomer.connect();
    expect(newcomer.queued).toBe(true);
    w.assigner.pump();
    expect(waiter.server).toBe(0);
    expect(newcomer.server).toBe(null);
  });

  test("full: refused at once with queue_full; 0 refuses without queueing", () => {
    const w = worker(region(), 0, upstreamConfig([server(1)], { size: 2, timeoutMs: 500 }));
    const sessions = Array.from({ length: 4 }, () => new FakeSession(w.plane, w.assigner));
    for (const s of sessions) s.connect();
    expect(sessions.map((s) => s.refused)).toEqual([null, null, null, "queue_full"]);
    expect(w.plane.cells[L.rejectedQueueFull]).toBe(1);
    const none = worker(region(), 0, upstreamConfig([server(1)], { size: 0, timeoutMs: 500 }));
    const a = new FakeSession(none.plane, none.assigner);
    const b = new FakeSession(none.plane, none.assigner);
    a.connect();
    b.connect();
    expect(b.refused).toBe("queue_full");
  });

  test("a session waiting past queue_timeout is refused and leaves the queue", () => {
    const w = worker(region(), 0, upstreamConfig([server(1)], { size: 5, timeoutMs: 300 }));
    new FakeSession(w.plane, w.assigner).connect();
    const late = new FakeSession(w.plane, w.assigner);
    late.connect();
    w.plane.wheel.advance(200);
    expect(late.refused).toBe(null);
    w.plane.wheel.advance(400);
    expect(late.refused).toBe("queue_timeout");
    expect(late.queued).toBe(false);
    expect(w.assigner.queue.length).toBe(0);
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
    expect(a.assigner.pump()).toBe(1);
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
    expect(a.assigner.queue.waitingAnywhere()).toBe(1);
    holder.end();
    await until(() => waiter.server !== null);
    expect(waiter.server).toBe(0);
    expect(["ok", "not-equal"]).toContain(wakesOfB.at(-1)!); // woken, not found by the 100 ms poll
  });
});

describe("what the session says happened", () => {
  test("least_conn counts sessions from assignment: connects still in flight spread over the servers", () => {
    const w = worker(region(), 0, upstreamConfig([server(), server(), server()], undefined, "least_conn"));
    const connecting = Array.from({ length: 6 }, () => new FakeSession(w.plane, w.assigner));
    for (const s of connecting) s.connect(); // none has connected yet
    expect(connecting.map((s) => s.server).sort()).toEqual([0, 0, 1, 1, 2, 2]);
    // Giving places back is counted too: the server with the fewest now takes the next one.
    connecting.filter((s) => s.server === 2).forEach((s) => s.end(Outcome.connectFailed));
    const next = new FakeSession(w.plane, w.assigner);
    next.connect();
    expect(next.server).toBe(2);
  });

  test("p2c and p2c_ewma count connecting sessions too", () => {
    for (const balance of ["p2c", "p2c_ewma"] as const) {
      const w = worker(region(), 0, upstreamConfig([server(), server()], undefined, balance));
      const counts = [0, 0];
      // Without counting from assignment every pick would see two idle servers: a coin toss each,
      // and 40 tosses in a row never drift more than one apart only by rare luck.
      for (let i = 0; i < 40; i++) {
        const s = new FakeSession(w.plane, w.assigner);
        s.connect();
        counts[s.server!]! += 1;
        expect(Math.abs(counts[0]! - counts[1]!), balance).toBeLessThanOrEqual(1);
      }
    }
  });

  test("each outcome is counted on the server's cells, and failures reach passive health", () => {
    const w = worker(region(), 0, upstreamConfig([server(), server()]));
    const cell = (s: number, field: number) => w.plane.cells[LISTENER_CELLS + s * SERVER_CELLS + field];
    const [a, b, c, d] = Array.from({ length: 4 }, () => new FakeSession(w.plane, w.assigner));
    for (const s of [a, b, c, d]) s!.connect();
    expect([a, b, c, d].map((s) => s!.server)).toEqual([0, 1, 0, 1]);
    w.assigner.connected(0, 2);
    w.assigner.connected(1, 2);
    a!.end(Outcome.ok);
    b!.end(Outcome.serverFailed);
    c!.end(Outcome.connectFailed);
    d!.end(Outcome.unused);
    expect([cell(0, S.connections), cell(0, S.active), cell(0, S.sessionsOk), cell(0, S.connectErrors)]).toEqual([1, 0, 1, 1]);
    expect([cell(1, S.connections), cell(1, S.active), cell(1, S.sessionsOk), cell(1, S.connectErrors)]).toEqual([1, 0, 0, 0]);
    expect(w.failures).toEqual([1, 0]);
  });

  test("a place given back goes to the head of the queue at once", () => {
    const w = worker(region(), 0, upstreamConfig([server(1)]));
    const holder = new FakeSession(w.plane, w.assigner);
    holder.connect();
    const waiter = new FakeSession(w.plane, w.assigner);
    waiter.connect();
    expect(waiter.queued).toBe(true);
    holder.end(Outcome.connectFailed);
    expect(waiter.server).toBe(0);
    expect(w.shared.serverLoad(0)).toBe(1);
  });
});
