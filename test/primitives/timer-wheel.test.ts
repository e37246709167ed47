// TimerWheel: one hashed wheel per Worker firing connect and idle deadlines on the Worker's tick.
import { describe, expect, test } from "bun:test";
import { TimerWheel, UNSCHEDULED, type TimerEntry } from "../../src/primitives/timer-wheel.ts";

class Entry implements TimerEntry {
  deadline = 0;
  timerPrev: TimerEntry | null = null;
  timerNext: TimerEntry | null = null;
  timerSlot = UNSCHEDULED;
  constructor(readonly name: string, readonly fired: string[], readonly then?: (now: number) => void) {}
  onDeadline(now: number): void {
    this.fired.push(`${this.name}@${now}`);
    this.then?.(now);
  }
}

describe("TimerWheel", () => {
  test("an entry never fires before its deadline, and fires within one tick after it, once", () => {
    const fired: string[] = [];
    const wheel = new TimerWheel(100, 0);
    wheel.schedule(new Entry("a", fired), 250);
    expect(wheel.size).toBe(1);
    for (const now of [100, 200, 249, 250, 299]) wheel.advance(now); // its tick (300) has not come
    expect(fired).toEqual([]);
    wheel.advance(300);
    expect(fired).toEqual(["a@300"]);
    expect(wheel.size).toBe(0);
    wheel.advance(1000);
    expect(fired).toEqual(["a@300"]);
  });

  test("a deadline on a tick boundary fires at that tick", () => {
    const fired: string[] = [];
    const wheel = new TimerWheel(100, 0);
    wheel.schedule(new Entry("a", fired), 300);
    wheel.advance(299);
    expect(fired).toEqual([]);
    wheel.advance(300);
    expect(fired).toEqual(["a@300"]);
  });

  test("entries fire in the order of their ticks when one advance covers several", () => {
    const fired: string[] = [];
    const wheel = new TimerWheel(100, 0);
    wheel.schedule(new Entry("late", fired), 480);
    wheel.schedule(new Entry("early", fired), 120);
    wheel.schedule(new Entry("middle", fired), 300);
    wheel.advance(500);
    expect(fired).toEqual(["early@500", "middle@500", "late@500"]);
  });

  test("cancel: a cancelled entry never fires and the size follows; cancelling twice is harmless", () => {
    const fired: string[] = [];
    const wheel = new TimerWheel(100, 0);
    const a = new Entry("a", fired);
    const b = new Entry("b", fired);
    wheel.schedule(a, 200);
    wheel.schedule(b, 200);
    wheel.cancel(a);
    wheel.cancel(a);
    expect(wheel.size).toBe(1);
    expect(a.timerSlot).toBe(UNSCHEDULED);
    wheel.advance(300);
    expect(fired).toEqual(["b@300"]);
  });

  test("schedule again moves the entry: only the new deadline counts", () => {
    const fired: string[] = [];
    const wheel = new TimerWheel(100, 0);
    const a = new Entry("a", fired);
    wheel.schedule(a, 200);
    wheel.schedule(a, 700);
    expect(wheel.size).toBe(1);
    wheel.advance(600);
    expect(fired).toEqual([]);
    wheel.advance(700);
    expect(fired).toEqual(["a@700"]);
  });

  test("a deadline already past fires at the next advance, not a turn later", () => {
    const fired: string[] = [];
    const wheel = new TimerWheel(100, 1000);
    wheel.advance(1500);
    wheel.schedule(new Entry("past", fired), 200);
    wheel.advance(1600);
    expect(fired).toEqual(["past@1600"]);
  });

  test("a deadline more than one turn away waits for its turn", () => {
    const fired: string[] = [];
    const wheel = new TimerWheel(10, 0, 8); // one turn: 80 ms
    wheel.schedule(new Entry("far", fired), 250);
    for (let now = 10; now < 250; now += 10) wheel.advance(now);
    expect(fired).toEqual([]);
    wheel.advance(250);
    expect(fired).toEqual(["far@250"]);
  });

  test("after a stall longer than a turn, one advance fires everything due and nothing that is not", () => {
    const fired: string[] = [];
    const wheel = new TimerWheel(10, 0, 8);
    for (let i = 1; i <= 8; i++) wheel.schedule(new Entry(`e${i}`, fired), i * 10);
    wheel.schedule(new Entry("later", fired), 10_000);
    wheel.advance(5_000);
    expect(fired.sort()).toEqual(["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8"].map((n) => `${n}@5000`).sort());
    expect(wheel.size).toBe(1);
    wheel.advance(10_000);
    expect(fired).toContain("later@10000");
  });

  test("a callback that cancels its neighbour in the same slot does not make it fire", () => {
    const fired: string[] = [];
    const wheel = new TimerWheel(100, 0);
    const victims: Entry[] = [];
    // Scheduled last, so first in the slot's list: it cancels the entries behind it.
    const a = new Entry("a", fired, () => victims.forEach((v) => wheel.cancel(v)));
    const b = new Entry("b", fired);
    const c = new Entry("c", fired);
    victims.push(b);
    wheel.schedule(c, 200);
    wheel.schedule(b, 200);
    wheel.schedule(a, 200);
    wheel.advance(200);
    expect(fired).toEqual(["a@200", "c@200"]);
    expect(wheel.size).toBe(0);
  });

  test("a callback that reschedules itself fires again at the new deadline", () => {
    const fired: string[] = [];
    const wheel = new TimerWheel(100, 0);
    let count = 0;
    const a: Entry = new Entry("a", fired, (now) => {
      if (++count < 3) wheel.schedule(a, now + 300);
    });
    wheel.schedule(a, 100);
    for (let now = 100; now <= 2000; now += 100) wheel.advance(now);
    expect(fired).toEqual(["a@100", "a@400", "a@700"]);
  });
});
