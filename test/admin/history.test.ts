// The main thread's ring of chart samples: rates from counters, bounded, oldest first, and a
// reload's new names start with no past while the kept ones keep theirs.
import { describe, expect, test } from "bun:test";
import { StatusHistory } from "../../src/admin/history.ts";
import type { StatusSource } from "../../src/admin/source.ts";
import { L, S } from "../../src/shared/layout.ts";

/** Counters the test sets by hand, read the way the CounterReader is (summed cells by field). */
function counters(listeners: string[], servers: string[]) {
  const cells = new Map<string, number>();
  const source = {
    config: { listeners: listeners.map((name) => ({ name })), upstreams: [{ name: "app", servers: servers.map((name) => ({ name })) }] },
    reader: {
      listener: (i: number, f: number) => cells.get(`l${i}:${f}`) ?? 0,
      server: (u: number, s: number, f: number) => cells.get(`s${u}.${s}:${f}`) ?? 0,
    },
  } as unknown as StatusSource;
  return { source, set: (key: string, v: number) => cells.set(key, v) };
}

describe("status history", () => {
  test("rates per second between samples, gauges as read; the first sample has no rate", () => {
    const { source, set } = counters(["main"], ["a"]);
    const h = new StatusHistory(10, 1000);
    set(`l0:${L.connections}`, 100); set(`l0:${L.bytesReceived}`, 1000); set(`l0:${L.active}`, 3); set(`s0.0:${S.connections}`, 40); set(`s0.0:${S.active}`, 2);
    h.sample(source, 10_000);
    set(`l0:${L.connections}`, 110); set(`l0:${L.bytesReceived}`, 5000); set(`l0:${L.active}`, 4); set(`s0.0:${S.connections}`, 45);
    h.sample(source, 12_000); // two seconds later
    const v = h.view();
    expect(v.times).toEqual([10_000, 12_000]);
    expect(v.listeners.main).toEqual({ connections_per_second: [null, 5], bytes_received_per_second: [null, 2000], bytes_sent_per_second: [null, 0], connections_active: [3, 4] });
    expect(v.servers.app!.a).toEqual({ connections_per_second: [null, 2.5], connections_active: [2, 2] });
  });

  test("keeps only the last `capacity` samples, oldest first; a counter that went back reads as no value", () => {
    const { source, set } = counters(["main"], ["a"]);
    const h = new StatusHistory(4, 1000);
    for (let i = 0; i < 7; i++) {
      set(`l0:${L.connections}`, i === 5 ? 0 : i * 10); // a restart at i = 5
      h.sample(source, i * 1000);
    }
    const v = h.view();
    expect(v.times).toEqual([3000, 4000, 5000, 6000]);
    expect(v.listeners.main!.connections_per_second).toEqual([10, 10, null, 60]);
  });

  test("after a reload, a new server has nothing before it was added and a removed one is gone", () => {
    const before = counters(["main"], ["a", "b"]);
    const h = new StatusHistory(5, 1000);
    h.sample(before.source, 0);
    h.sample(before.source, 1000);
    const after = counters(["main"], ["a", "c"]);
    h.sample(after.source, 2000);
    const v = h.view();
    expect(Object.keys(v.servers.app!).sort()).toEqual(["a", "c"]);
    expect(v.servers.app!.a!.connections_active).toEqual([0, 0, 0]);
    expect(v.servers.app!.c!.connections_active).toEqual([null, null, 0]);
  });

  test("a ring smaller than two samples is refused", () => {
    expect(() => new StatusHistory(1)).toThrow("capacity must be an integer of at least 2");
  });
});
