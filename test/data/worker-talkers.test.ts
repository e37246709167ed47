// A Worker's top talkers: sessions counted once their client is known, bytes sampled a slice per tick, a post per round, halving each minute.
import { describe, expect, test } from "bun:test";
import { TALKERS_HALF_LIFE_MS, TALKERS_POST_EVERY_MS, WorkerTalkers, type TalkingSession } from "../../src/data/worker-talkers.ts";
import { TopTalkers } from "../../src/telemetry/top-talkers.ts";

/** A session as the plane's Session is one: its byte counts grow. */
type TestSession = TalkingSession & { bytesIn: number; bytesOut: number };
const session = (client: string, listener = "main"): TestSession => ({ clientAddress: client, listener: { name: listener }, bytesIn: 0, bytesOut: 0, talked: -1 });
const listeners = [{ name: "main" }, { name: "other" }];

/** Ticks 100 ms apart from `start` until a post comes (bounded); returns it and the time. */
function untilPost(t: WorkerTalkers, start: number, sessions: Set<TalkingSession>) {
  for (let i = 1; i <= 200; i++) {
    const now = start + i * 100;
    const post = t.tick(now, sessions, listeners);
    if (post) return { post, now, ticks: i };
  }
  throw new Error("no post in 200 ticks");
}

describe("WorkerTalkers", () => {
  test("bytes of open sessions are sampled while they run, and the rest at their end; sessions count once begun", () => {
    const t = new WorkerTalkers(0);
    const heavy = session("10.0.0.1");
    const light = session("10.0.0.2");
    const early = session("10.0.0.3"); // still reading its PROXY header: not begun
    const sessions = new Set([heavy, light, early]);
    t.began(heavy);
    t.began(light);
    heavy.bytesIn = 5000;
    heavy.bytesOut = 5000;
    light.bytesIn = 10;
    early.bytesIn = 99;
    const { post } = untilPost(t, 0, sessions);
    const merged = TopTalkers.merge(post.map((p) => p.summary));
    expect(merged.top(10, "bytes").map((r) => [r.client, r.bytes, r.sessions])).toEqual([["10.0.0.1", 10_000, 1], ["10.0.0.2", 10, 1]]);
    expect(post[0]!.current).toEqual({ "10.0.0.1": 1, "10.0.0.2": 1 });
    heavy.bytesOut += 1000;
    t.ended(heavy);
    sessions.delete(heavy);
    t.ended(early); // never begun: nothing to add
    const next = untilPost(t, TALKERS_POST_EVERY_MS, sessions).post;
    const again = TopTalkers.merge(next.map((p) => p.summary)).top(10, "bytes");
    expect(again.map((r) => [r.client, r.bytes])).toEqual([["10.0.0.1", 11_000], ["10.0.0.2", 10]]);
    expect(next[0]!.current).toEqual({ "10.0.0.2": 1 });
  });

  test("a round walks a slice per tick, so many sessions take a few ticks, not one long stop", () => {
    const t = new WorkerTalkers(0);
    const sessions = new Set(Array.from({ length: 10_000 }, (_, i) => session(`10.0.${i >> 8}.${i & 255}`)));
    for (const s of sessions) t.began(s);
    const { ticks } = untilPost(t, TALKERS_POST_EVERY_MS - 100, sessions);
    expect(ticks).toBeGreaterThanOrEqual(15);
    expect(ticks).toBeLessThanOrEqual(25);
  });

  test("halving each minute, listeners kept apart, and a listener gone from the config forgotten", () => {
    const t = new WorkerTalkers(0);
    const a = session("10.0.0.1", "main");
    const b = session("10.0.0.1", "other");
    t.began(a);
    t.began(b);
    a.bytesIn = 4096;
    b.bytesIn = 8;
    const sessions = new Set([a, b]);
    const first = untilPost(t, TALKERS_HALF_LIFE_MS, sessions).post;
    const byListener = Object.fromEntries(first.map((p) => [p.listener, TopTalkers.merge([p.summary]).top(1, "bytes")[0]!.bytes]));
    expect(byListener).toEqual({ main: 2048, other: 4 }); // a minute passed: halved once
    const gone = t.tick(TALKERS_HALF_LIFE_MS * 2, new Set(), [{ name: "main" }]) ?? untilPost(t, TALKERS_HALF_LIFE_MS * 2, new Set()).post;
    expect(gone.map((p) => p.listener)).toEqual(["main"]);
  });
});
