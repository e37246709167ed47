// The pure parts of health: rise/fall hysteresis and passive ejection with doubling.
import { describe, expect, test } from "bun:test";
import { freshEjection, MAX_EJECTION_MS, readmit, recordFailure } from "../../src/health/ejection.ts";
import { record, START_HEALTHY, type Hysteresis } from "../../src/health/hysteresis.ts";

function run(results: boolean[], rise = 2, fall = 3): boolean[] {
  let state: Hysteresis = START_HEALTHY;
  return results.map((ok) => (state = record(state, ok, rise, fall).state).healthy);
}

describe("hysteresis", () => {
  test("down only after `fall` failures in a row, up only after `rise` successes in a row", () => {
    expect(run([false, false, true, false, false, false])).toEqual([true, true, true, true, true, false]);
    expect(run([false, false, false, true, false, true, true])).toEqual([true, true, false, false, false, false, true]);
  });
  test("rise = fall = 1 follows every result", () => {
    expect(run([false, true, false], 1, 1)).toEqual([false, true, false]);
  });
});

describe("ejection", () => {
  test("consecutive failures eject; a success in between resets the count", () => {
    const s = freshEjection();
    expect(recordFailure(s, 0, 0, 3, 1000)).toBe(0);
    expect(recordFailure(s, 0, 1, 3, 1000)).toBe(0);
    expect(recordFailure(s, 5, 2, 3, 1000)).toBe(0); // 5 successes happened: count restarts at 1
    expect(recordFailure(s, 5, 3, 3, 1000)).toBe(0);
    expect(recordFailure(s, 5, 4, 3, 1000)).toBe(1000);
    expect(recordFailure(s, 5, 5, 3, 1000)).toBe(0); // already ejected
  });

  test("ejections in a row double, up to the cap; serving well after re-admission resets them", () => {
    const s = freshEjection();
    const lengths: number[] = [];
    let now = 0;
    for (let i = 0; i < 12; i++) {
      lengths.push(recordFailure(s, 0, now, 1, 1000));
      now += lengths.at(-1)!;
      readmit(s, 0);
    }
    expect(lengths.slice(0, 5)).toEqual([1000, 2000, 4000, 8000, 16000]);
    expect(Math.max(...lengths)).toBe(MAX_EJECTION_MS);
    // After the last re-admission (at 0 successes) it served 10 connections: the next ejection starts over.
    expect(recordFailure(s, 10, now, 1, 1000)).toBe(1000);
  });

  test("a threshold of 0 turns passive checks off", () => {
    const s = freshEjection();
    for (let i = 0; i < 100; i++) expect(recordFailure(s, 0, i, 0, 1000)).toBe(0);
  });
});
