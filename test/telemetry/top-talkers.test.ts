// Space-saving and top talkers against exact counts: seeded skewed streams, the proven bounds checked key by key.
import { describe, expect, test } from "bun:test";
import { SpaceSaving, TopTalkers, type SpaceSavingSnapshot } from "../../src/telemetry/top-talkers.ts";
import { seeded } from "../helpers/random.ts";

interface Event {
  key: string;
  weight: number;
}

const address = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/** Zipf-like (rank r weighs 1/r^skew) over `keys` addresses, ranks shuffled so the heavy ones are not the first seen; chunk-sized weights. */
function zipfStream(seed: number, keys: number, events: number, skew = 1.2): Event[] {
  const random = seeded(seed);
  const byRank = Array.from({ length: keys }, (_, i) => address(i));
  for (let i = keys - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [byRank[i], byRank[j]] = [byRank[j]!, byRank[i]!];
  }
  const cumulative: number[] = [];
  let sum = 0;
  for (let r = 1; r <= keys; r++) cumulative.push((sum += 1 / r ** skew));
  return Array.from({ length: events }, () => {
    const target = random() * sum;
    let lo = 0;
    let hi = keys - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < target) lo = mid + 1;
      else hi = mid;
    }
    return { key: byRank[lo]!, weight: 1 + Math.floor(random() * 1500) };
  });
}

function feed(summary: SpaceSaving, exact: Map<string, number>, events: readonly Event[]): void {
  for (const { key, weight } of events) {
    summary.add(key, weight);
    exact.set(key, (exact.get(key) ?? 0) + weight);
  }
}

/** Every guarantee of the summary against the exact weights; returns how many keys weigh more than N/k, so a caller can insist the case is not vacuous. */
function expectBounds(summary: SpaceSaving, exact: ReadonlyMap<string, number>, k = summary.capacity): number {
  let n = 0;
  for (const weight of exact.values()) n += weight;
  expect(summary.total).toBeCloseTo(n, 6);
  const slack = n * 1e-12;
  const listed = new Map(summary.top(summary.size).map((e) => [e.key, e]));
  const wrong: string[] = [];
  for (const { key, count, error } of listed.values()) {
    const truth = exact.get(key) ?? 0;
    if (count - error > truth + slack || truth > count + slack) wrong.push(`${key}: ${count} - ${error} vs true ${truth}`);
    if (error > n / k + slack) wrong.push(`${key}: error ${error} > N/k ${n / k}`);
  }
  for (const [key, truth] of exact) {
    if (!listed.has(key) && truth > summary.bound + slack) wrong.push(`${key} (${truth}) missing, bound ${summary.bound}`);
    if (!listed.has(key) && truth > n / k) wrong.push(`${key} (${truth}) heavier than N/k is missing`);
  }
  expect(wrong).toEqual([]);
  expect(summary.bound).toBeLessThanOrEqual(n / k + slack);
  return [...exact.values()].filter((weight) => weight > n / k).length;
}

const exactTop = (exact: ReadonlyMap<string, number>, n: number) =>
  [...exact].sort(([ka, a], [kb, b]) => b - a || (ka < kb ? -1 : 1)).slice(0, n).map(([key, count]) => ({ key, count, error: 0 }));

describe("SpaceSaving", () => {
  test("20 addresses, skewed: with k >= 20 the top is exact and in exact order; with k = 8 the bounds hold", () => {
    const events = zipfStream(1, 20, 20_000);
    for (const k of [20, 32]) {
      const summary = new SpaceSaving(k);
      const exact = new Map<string, number>();
      feed(summary, exact, events);
      expect(summary.top(20)).toEqual(exactTop(exact, 20));
      expect(summary.top(10)).toEqual(exactTop(exact, 10));
    }
    const small = new SpaceSaving(8);
    const exact = new Map<string, number>();
    feed(small, exact, events);
    expect(small.size).toBe(8);
    expect(expectBounds(small, exact)).toBeGreaterThanOrEqual(2);
  });

  test("10,000 addresses, skewed, 128 counters: bounds hold all along, and the true top 10 above N/k is listed", () => {
    const summary = new SpaceSaving(128);
    const exact = new Map<string, number>();
    const events = zipfStream(2, 10_000, 200_000);
    for (let at = 0; at < events.length; at += 50_000) {
      feed(summary, exact, events.slice(at, at + 50_000));
      expect(expectBounds(summary, exact)).toBeGreaterThanOrEqual(5);
    }
    const listed = new Set(summary.top(128).map((e) => e.key));
    let n = 0;
    for (const weight of exact.values()) n += weight;
    const heavyTop = exactTop(exact, 10).filter((e) => e.count > n / 128);
    expect(heavyTop.length).toBeGreaterThanOrEqual(5);
    for (const { key } of heavyTop) expect(listed.has(key)).toBe(true);
    // The same stream with a flatter skew evicts far more; the bound still holds.
    const flat = new SpaceSaving(128);
    const flatExact = new Map<string, number>();
    feed(flat, flatExact, zipfStream(3, 10_000, 100_000, 0.9));
    expectBounds(flat, flatExact);
  });

  test("decay scales every count, error and the total, keeps the order, and the bounds hold against decayed truth", () => {
    const summary = new SpaceSaving(64);
    const exact = new Map<string, number>();
    const events = zipfStream(4, 10_000, 100_000);
    feed(summary, exact, events.slice(0, 20_000));
    const before = summary.snapshot();
    summary.decay(0.5);
    const after = summary.snapshot();
    expect(after.keys).toEqual(before.keys);
    expect(after.counts).toEqual(before.counts.map((c) => c / 2));
    expect(after.errors).toEqual(before.errors.map((e) => e / 2));
    expect(after.total).toBe(before.total / 2);
    for (const [key, weight] of exact) exact.set(key, weight / 2);
    for (const [factor, at] of [[0.5, 20_000], [0.7, 40_000], [0.5, 60_000], [1, 80_000]] as const) {
      feed(summary, exact, events.slice(at, at + 20_000));
      summary.decay(factor);
      for (const [key, weight] of exact) exact.set(key, weight * factor);
      expectBounds(summary, exact);
    }
    for (const bad of [0, -0.5, 1.5, Number.NaN]) expect(() => summary.decay(bad)).toThrow(RangeError);
  });

  test("merging 2 and 4 Workers' summaries keeps the bound against the exact union, and so do adds and merges after it", () => {
    const events = zipfStream(5, 10_000, 120_000);
    for (const workers of [2, 4]) {
      const random = seeded(50 + workers);
      const parts = Array.from({ length: workers }, () => new SpaceSaving(128));
      const exact = new Map<string, number>();
      // One Worker sees little (a summary not yet full), the others share the rest unevenly.
      for (const { key, weight } of events) {
        const r = random();
        const worker = r < 0.001 ? 0 : 1 + Math.floor(((r - 0.001) / 0.999) ** 2 * (workers - 1));
        parts[worker]!.add(key, weight);
        exact.set(key, (exact.get(key) ?? 0) + weight);
      }
      expect(parts[0]!.size).toBeLessThan(128);
      const snapshots = parts.map((p) => structuredClone(p.snapshot()));
      const merged = SpaceSaving.merge(snapshots, 128);
      expect(merged.size).toBe(128);
      expect(expectBounds(merged, exact)).toBeGreaterThanOrEqual(5);
      // Merge in a tree (as a main thread merging merges would): the same bound.
      const half = workers / 2;
      const left = SpaceSaving.merge(snapshots.slice(0, half), 128).snapshot();
      const right = SpaceSaving.merge(snapshots.slice(half), 128).snapshot();
      expectBounds(SpaceSaving.merge([left, right], 128), exact);
      // A merged summary is a summary: more traffic and a decay keep the bound.
      expectBounds(SpaceSaving.merge(snapshots, 32), exact); // into fewer counters than the inputs: the bound for k = 32
      feed(merged, exact, zipfStream(6, 10_000, 30_000));
      merged.decay(0.5);
      for (const [key, weight] of exact) exact.set(key, weight / 2);
      expectBounds(merged, exact);
    }
  });

  test("merge by hand: an absent key counts as the input's smallest counter, with that as its error", () => {
    const full = new SpaceSaving(2);
    full.add("x", 10);
    full.add("y", 5);
    const partial = new SpaceSaving(2);
    partial.add("z", 1);
    const merged = SpaceSaving.merge([full.snapshot(), partial.snapshot()], 2);
    expect(merged.top(3)).toEqual([{ key: "x", count: 10, error: 0 }, { key: "z", count: 6, error: 5 }]);
    expect(merged.bound).toBe(6);
    expect(merged.total).toBe(16);
    expect(() => SpaceSaving.merge([full.snapshot()], 3)).toThrow(/cannot merge a summary of 2 counters into 3/);
    const empty = SpaceSaving.merge([], 4);
    expect([empty.size, empty.total, empty.bound, empty.top(5).length]).toEqual([0, 0, 0, 0]);
  });

  test("a snapshot survives postMessage's structured clone and goes on behaving exactly as the original", () => {
    const original = new SpaceSaving(16);
    const rest = zipfStream(7, 500, 6_000);
    feed(original, new Map(), rest.slice(0, 3_000));
    const copy = SpaceSaving.fromSnapshot(structuredClone(original.snapshot()));
    expect(copy.snapshot()).toEqual(original.snapshot());
    for (const { key, weight } of rest.slice(3_000)) {
      original.add(key, weight);
      copy.add(key, weight);
    }
    expect(copy.top(16)).toEqual(original.top(16));
    expect([copy.total, copy.bound]).toEqual([original.total, original.bound]);
  });

  test("capacity 1 keeps the last key with everything on it; empty and zero weights change nothing", () => {
    const one = new SpaceSaving(1);
    expect([one.size, one.total, one.bound, one.top(3)]).toEqual([0, 0, 0, []]);
    one.add("a", 5);
    one.add("b", 3);
    expect(one.top(3)).toEqual([{ key: "b", count: 8, error: 5 }]);
    expect(one.bound).toBe(8);
    one.add("c", 0);
    one.add("b", 0);
    expect([one.size, one.total, one.top(1)]).toEqual([1, 8, [{ key: "b", count: 8, error: 5 }]]);
    const empty = new SpaceSaving(4);
    empty.add("z", 0);
    expect([empty.size, empty.total]).toEqual([0, 0]);
    expect(SpaceSaving.fromSnapshot(empty.snapshot()).size).toBe(0);
  });

  test("bad input is refused with a reason", () => {
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 21]) expect(() => new SpaceSaving(bad)).toThrow(/capacity/);
    const summary = new SpaceSaving(4);
    for (const bad of [-1, Number.NaN, Infinity]) expect(() => summary.add("a", bad)).toThrow(/weight/);
    for (const bad of [-1, 1.5]) expect(() => summary.top(bad)).toThrow(/top/);
    const good: SpaceSavingSnapshot = { capacity: 2, total: 3, keys: ["a"], counts: [3], errors: [0] };
    const cases: [unknown, RegExp][] = [
      [{ ...good, capacity: 0 }, /capacity/],
      [{ ...good, total: -1 }, /total/],
      [{ ...good, keys: ["a", "b", "c"], counts: [1, 1, 1], errors: [0, 0, 0] }, /3 keys in 2/],
      [{ ...good, counts: [] }, /differ in length/],
      [{ ...good, keys: ["a", "a"], counts: [1, 2], errors: [0, 0] }, /twice/],
      [{ ...good, errors: [4] }, /error <= count/],
      [null, /not an object/],
    ];
    for (const [snapshot, why] of cases) expect(() => SpaceSaving.fromSnapshot(snapshot as SpaceSavingSnapshot)).toThrow(why);
  });
});

describe("TopTalkers", () => {
  test("ranks by bytes or by sessions; a client missing from one summary shows 0 there with that summary's bound", () => {
    const talkers = new TopTalkers(2);
    for (let i = 0; i < 5; i++) talkers.session("x");
    talkers.session("y");
    talkers.session("z"); // evicts y from sessions: z counts 2, error 1
    talkers.bytes("y", 1000);
    talkers.bytes("x", 10);
    expect(talkers.top(5, "bytes")).toEqual([
      { client: "y", bytes: 1000, bytesError: 0, sessions: 0, sessionsError: 2 },
      { client: "x", bytes: 10, bytesError: 0, sessions: 5, sessionsError: 0 },
    ]);
    expect(talkers.top(5, "sessions")).toEqual([
      { client: "x", bytes: 10, bytesError: 0, sessions: 5, sessionsError: 0 },
      { client: "z", bytes: 0, bytesError: 10, sessions: 2, sessionsError: 1 }, // bytes is full: its bound is 10
    ]);
    expect(() => talkers.top(1, "conns" as "bytes")).toThrow(/rank by/);
  });

  test("per-Worker talkers merged, decayed and round-tripped keep both bounds against exact counts", () => {
    const random = seeded(9);
    const workers = Array.from({ length: 3 }, () => new TopTalkers());
    const exactBytes = new Map<string, number>();
    const exactSessions = new Map<string, number>();
    for (const { key, weight } of zipfStream(10, 10_000, 60_000)) {
      const worker = workers[Math.floor(random() * 3)]!;
      if (random() < 0.1 || !exactSessions.has(key)) {
        worker.session(key);
        exactSessions.set(key, (exactSessions.get(key) ?? 0) + 1);
      }
      worker.bytes(key, weight);
      exactBytes.set(key, (exactBytes.get(key) ?? 0) + weight);
    }
    for (const w of workers) w.decay(0.5);
    for (const exact of [exactBytes, exactSessions]) for (const [key, v] of exact) exact.set(key, v / 2);
    const merged = TopTalkers.merge(workers.map((w) => TopTalkers.fromSnapshot(structuredClone(w.snapshot())).snapshot()));
    for (const by of ["bytes", "sessions"] as const) {
      const rows = merged.top(10, by);
      expect(rows.length).toBe(10);
      for (const row of rows) {
        for (const [value, error, exact] of [[row.bytes, row.bytesError, exactBytes], [row.sessions, row.sessionsError, exactSessions]] as const) {
          const truth = exact.get(row.client) ?? 0;
          // Listed: truth in [value - error, value]; missing: value 0 and truth in [0, error].
          expect(truth).toBeLessThanOrEqual(value === 0 ? error : value);
          expect(truth).toBeGreaterThanOrEqual(value - error);
        }
      }
      const values = rows.map((r) => r[by]);
      expect(values).toEqual([...values].sort((a, b) => b - a));
    }
    expect(merged.totals.bytes).toBeCloseTo([...exactBytes.values()].reduce((a, b) => a + b), 6);
  });
});
