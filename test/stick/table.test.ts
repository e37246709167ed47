// The stick table on one thread: claim, find, release, expiry, replacing, removals, listing, LRU and a full table.
import { describe, expect, test } from "bun:test";
import { newIpWords, parseIp, type IpWords } from "../../src/net/ip.ts";
import { allocateStickTable, StickTable } from "../../src/stick/table.ts";
import { readHeader, TICK_MS } from "../../src/stick/layout.ts";
import { seeded } from "../helpers/random.ts";

function ip(text: string): IpWords {
  const w = newIpWords();
  if (!parseIp(text, w)) throw new Error(`not an address: ${text}`);
  return w;
}

/** A table, and its epoch: times in the tests are counted from it, so ticks fall where expected. */
function table(maxEntries: number): { t: StickTable; t0: number } {
  const sab = allocateStickTable(maxEntries);
  return { t: new StickTable(sab), t0: readHeader(sab).epochMs };
}

const TTL = 30_000;

describe("StickTable", () => {
  test("a claim sticks a client; later claims, from any server, get the same id and count on the same entry", () => {
    const { t, t0 } = table(100);
    const a = ip("192.0.2.7");
    expect(t.find(a, t0, TTL)).toBe(0);
    const first = { ...t.claim(a, 7, t0, TTL, 0) };
    expect(first.id).toBe(7);
    expect(first.slot).toBeGreaterThanOrEqual(0);
    expect(t.find(a, t0, TTL)).toBe(7);
    expect(t.find(ip("::ffff:192.0.2.7"), t0, TTL)).toBe(7); // the same client
    const second = { ...t.claim(a, 9, t0 + 500, TTL, 0) };
    expect(second).toEqual(first);
    expect(t.entries(t0 + 500, TTL)).toEqual([{ client: "192.0.2.7", server: 7, sessions: 2, idleMs: 0 }]);
    t.release(first.slot, a, t0 + 1000);
    t.release(second.slot, a, t0 + 2000);
    expect(t.entries(t0 + 3000, TTL)).toEqual([{ client: "192.0.2.7", server: 7, sessions: 0, idleMs: 1000 }]);
    expect(t.find(a, t0 + 3000, TTL)).toBe(7);
    expect(t.find(ip("192.0.2.8"), t0, TTL)).toBe(0);
    expect(t.live(t0 + 3000, TTL)).toBe(1);
  });

  test("the ttl runs from the last release, not from the claim; then the next claim takes the client", () => {
    const { t, t0 } = table(100);
    const a = ip("198.51.100.1");
    const slot = t.claim(a, 7, t0, TTL, 0).slot;
    expect(t.find(a, t0 + 10 * TTL, TTL)).toBe(7); // a session lasting longer than the ttl keeps it
    const end = t0 + 10 * TTL;
    t.release(slot, a, end);
    expect(t.find(a, end + TTL - TICK_MS, TTL)).toBe(7);
    expect(t.live(end + TTL - TICK_MS, TTL)).toBe(1);
    expect(t.find(a, end + TTL + TICK_MS, TTL)).toBe(0);
    expect(t.live(end + TTL + TICK_MS, TTL)).toBe(0);
    expect(t.entries(end + TTL + TICK_MS, TTL)).toEqual([]);
    expect(t.claim(a, 9, end + TTL + TICK_MS, TTL, 0).id).toBe(9);
    expect(t.find(a, end + TTL + TICK_MS, TTL)).toBe(9);
  });

  test("an entry with a session open never expires; the last of several releases starts the clock", () => {
    const { t, t0 } = table(100);
    const a = ip("2001:db8::1");
    const one = t.claim(a, 3, t0, TTL, 0).slot;
    const two = t.claim(a, 4, t0, TTL, 0).slot;
    t.release(one, a, t0 + 1000);
    const years = t0 + 3 * 365 * 86_400_000;
    expect(t.find(a, years, TTL)).toBe(3);
    expect(t.claim(ip("2001:db8::2"), 5, years, TTL, 0).id).toBe(3); // not taken over either
    t.release(two, a, years);
    expect(t.entries(years, TTL)[0]).toEqual({ client: "2001:db8::/64", server: 3, sessions: 1, idleMs: 0 });
  });

  test("replacing: a claim takes the client from the server it names, and only from that one", () => {
    const { t, t0 } = table(100);
    const a = ip("203.0.113.5");
    const held = { ...t.claim(a, 7, t0, TTL, 0) };
    expect(t.claim(a, 9, t0, TTL, 8).id).toBe(7); // stuck to 7, a live server: left alone
    const moved = { ...t.claim(a, 9, t0, TTL, 7) };
    expect(moved.id).toBe(9);
    expect(moved.slot).toBe(held.slot); // the same entry, still counting the sessions on 7
    expect(t.find(a, t0, TTL)).toBe(9);
    expect(t.claim(a, 11, t0, TTL, 7).id).toBe(9); // 7 is gone already: 9 stays
    expect(t.entries(t0, TTL)[0]!.sessions).toBe(4);
    for (let i = 0; i < 4; i++) t.release(held.slot, a, t0 + 1000);
    expect(t.entries(t0 + 1000, TTL)[0]!.sessions).toBe(0);
    t.release(held.slot, a, t0 + 1000); // one too many: ignored, not below zero
    expect(t.entries(t0 + 1000, TTL)[0]!.sessions).toBe(0);
    expect(t.claim(ip("203.0.113.6"), 5, t0, TTL, 0).id).toBe(5); // replacing 0 takes only the absent
  });

  test("dropServer, delete and clear remove entries; a release for a removed entry does nothing", () => {
    const { t, t0 } = table(100);
    const [a, b, c] = [ip("10.0.0.1"), ip("10.0.0.2"), ip("2001:db8:5:6::7")];
    const held = t.claim(a, 7, t0, TTL, 0).slot;
    t.release(t.claim(b, 7, t0, TTL, 0).slot, b, t0);
    t.claim(c, 8, t0, TTL, 0);
    expect(t.dropServer(7)).toBe(2);
    expect(t.dropServer(7)).toBe(0);
    expect([t.find(a, t0, TTL), t.find(b, t0, TTL), t.find(c, t0, TTL)]).toEqual([0, 0, 8]);
    const again = { ...t.claim(a, 9, t0, TTL, 0) };
    expect(again.id).toBe(9);
    t.release(held, a, t0); // the session counted on the dropped entry: not on the new one
    expect(t.entries(t0, TTL).find((e) => e.client === "10.0.0.1")!.sessions).toBe(1);
    t.release(again.slot, a, t0);
    expect(t.delete(c)).toBe(true);
    expect(t.delete(c)).toBe(false);
    expect(t.find(c, t0, TTL)).toBe(0);
    expect(t.live(t0, TTL)).toBe(1);
    t.claim(b, 4, t0, TTL, 0);
    expect(t.clear()).toBe(2);
    expect(t.live(t0, TTL)).toBe(0);
    expect(t.entries(t0, TTL)).toEqual([]);
    expect(() => t.dropServer(0)).toThrow(/nonzero int32/);
  });

  test("entries name IPv4 clients by address and IPv6 clients by /64; two addresses of one /64 are one entry", () => {
    const { t, t0 } = table(100);
    t.claim(ip("2001:db8:1:2::1"), 1, t0, TTL, 0);
    t.claim(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"), 2, t0, TTL, 0);
    t.claim(ip("2001:db8:1:3::1"), 3, t0, TTL, 0);
    t.claim(ip("::1"), 4, t0, TTL, 0);
    t.claim(ip("::2"), 5, t0, TTL, 0);
    t.claim(ip("0:0:1:2::5"), 6, t0, TTL, 0);
    t.claim(ip("0.0.0.1"), 7, t0, TTL, 0);
    t.claim(ip("::ffff:192.0.2.200"), 8, t0, TTL, 0);
    const listed = t.entries(t0, TTL).map((e) => `${e.client} ${e.server} ${e.sessions}`).sort();
    expect(listed).toEqual([
      "0.0.0.1 7 1",
      "0:0:1:2::/64 6 1",
      "192.0.2.200 8 1",
      "2001:db8:1:2::/64 1 2",
      "2001:db8:1:3::/64 3 1",
      "::/64 4 2",
    ]);
    expect(t.entries(t0, TTL, 2)).toHaveLength(2);
    expect(t.entries(t0, TTL, 0)).toEqual([]);
    expect(t.live(t0, TTL)).toBe(6);
  });

  test("least recently used out: a full table evicts the idle entry released longest ago", () => {
    const { t, t0 } = table(16); // two buckets: every client's candidates are all 16 slots
    expect(t.capacity).toBe(16);
    const random = seeded(7);
    const clients = Array.from({ length: 16 }, (_, i) => ip(`10.1.0.${i + 1}`));
    const handles = clients.map((c, i) => t.claim(c, 100 + i, t0, TTL, 0).slot);
    expect(handles.every((h) => h >= 0)).toBe(true);
    // Released in a shuffled order, one second apart: the first released is the least recent.
    const order = clients.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    order.forEach((i, k) => t.release(handles[i]!, clients[i]!, t0 + 1000 * (k + 1)));
    const now = t0 + 20_000;
    for (let round = 0; round < 3; round++) {
      const newcomer = ip(`10.2.0.${round + 1}`);
      expect(t.claim(newcomer, 200 + round, now, TTL, 0).slot).toBeGreaterThanOrEqual(0);
      const gone = order[round]!;
      expect(t.find(clients[gone]!, now, TTL)).toBe(0);
      for (const i of order.slice(round + 1)) expect(t.find(clients[i]!, now, TTL)).toBe(100 + i);
    }
    expect(t.live(now, TTL)).toBe(16);
  });

  test("a table whose candidates all have sessions open stores nothing (slot -1) and evicts nobody", () => {
    const { t, t0 } = table(16);
    const clients = Array.from({ length: 16 }, (_, i) => ip(`10.3.0.${i + 1}`));
    const handles = clients.map((c) => t.claim(c, 1, t0, TTL, 0).slot);
    const extra = ip("10.4.0.1");
    expect(t.claim(extra, 2, t0 + 5000, TTL, 0)).toEqual({ id: 2, slot: -1 });
    expect(t.find(extra, t0 + 5000, TTL)).toBe(0);
    expect(clients.every((c) => t.find(c, t0 + 5000, TTL) === 1)).toBe(true);
    t.release(handles[5]!, clients[5]!, t0 + 6000);
    expect(t.claim(extra, 2, t0 + 7000, TTL, 0).slot).toBeGreaterThanOrEqual(0);
    expect(t.find(clients[5]!, t0 + 7000, TTL)).toBe(0);
  });

  test("memory is fixed: 200,000 clients passing through reuse expired entries; two choices fill most slots", () => {
    const { t, t0 } = table(1024);
    const w = newIpWords();
    const ttl = 1000;
    let now = t0;
    let refused = 0;
    for (let i = 0; i < 200_000; i++) {
      if (i % 200 === 0) now += 100; // 200 new clients a tick, 2,000 a ttl: more than the table holds
      w[0] = 0x20010db8;
      w[1] = i;
      const slot = t.claim(w, 1 + (i % 5), now, ttl, 0).slot;
      if (slot < 0) refused++;
      else t.release(slot, w, now);
    }
    expect(refused).toBe(0); // idle ones give way (expired first, else least recently used)
    expect(t.live(now, ttl)).toBeLessThanOrEqual(1024);
    expect(t.live(now + ttl + TICK_MS, ttl)).toBe(0);

    let held = 0;
    for (let i = 0; i < 4000; i++) {
      parseIp(`172.16.${i >> 8}.${i & 255}`, w);
      if (t.claim(w, 9, now + 5000, ttl, 0).slot >= 0) held++;
    }
    expect(held).toBeGreaterThan(700);
    expect(held).toBeLessThanOrEqual(1024);
    expect(t.live(now + 5000, ttl)).toBe(held);
  });

  test("capacity is max_entries rounded up to whole buckets of 8, two at least; bad sizes and buffers are refused", () => {
    const capacity = (n: number) => new StickTable(allocateStickTable(n)).capacity;
    expect([1, 16, 17, 24, 100_000, 100_001].map(capacity)).toEqual([16, 16, 24, 24, 100_000, 100_008]);
    for (const bad of [0, -1, 1.5, Number.NaN, 2 ** 24 + 1]) expect(() => allocateStickTable(bad)).toThrow(/max_entries/);
    expect(() => new StickTable(new SharedArrayBuffer(64))).toThrow(/allocateStickTable/);
    const sab = allocateStickTable(16);
    expect(() => new StickTable(sab.slice(0, 64) as unknown as SharedArrayBuffer)).toThrow(/capacity 16/);
    expect(() => new StickTable(new ArrayBuffer(64) as unknown as SharedArrayBuffer)).toThrow(/SharedArrayBuffer/);
  });

  test("bad arguments get a clear error", () => {
    const { t, t0 } = table(16);
    const a = ip("10.0.0.1");
    expect(() => t.claim(a, 0, t0, TTL, 0)).toThrow(/nonzero int32/);
    expect(() => t.claim(a, 2 ** 31, t0, TTL, 0)).toThrow(/nonzero int32/);
    expect(() => t.claim(a, 1, t0, TTL, 1.5)).toThrow(/replacing/);
    expect(() => t.claim(a, 1, t0, -1, 0)).toThrow(/ttl/);
    expect(() => t.find(a, t0, Number.NaN)).toThrow(/ttl/);
    expect(() => t.find(a, Number.NaN, TTL)).toThrow(/Date.now/);
    expect(() => t.release(0, a, Number.POSITIVE_INFINITY)).toThrow(/Date.now/);
    expect(() => t.live(t0, Number.POSITIVE_INFINITY)).toThrow(/ttl/);
    expect(() => t.entries(t0, TTL, -1)).toThrow(/limit/);
    expect(() => t.release(2 ** 40, a, t0)).toThrow(/handle/);
    expect(() => t.release(0.5, a, t0)).toThrow(/handle/);
    t.release(-1, a, t0); // "not counted" is a handle too
    expect(t.claim(a, -5, t0, TTL, 0).id).toBe(-5); // any nonzero int32 is a server id
  });

  test("two tables over one buffer are one table (as a Worker and the main thread see it)", () => {
    const sab = allocateStickTable(64);
    const t0 = readHeader(sab).epochMs;
    const [worker, main] = [new StickTable(sab), new StickTable(sab)];
    const a = ip("2001:db8:aa:bb::1");
    const held = worker.claim(a, 12, t0, TTL, 0).slot;
    expect(main.find(ip("2001:db8:aa:bb::99"), t0, TTL)).toBe(12);
    expect(main.entries(t0, TTL)).toEqual([{ client: "2001:db8:aa:bb::/64", server: 12, sessions: 1, idleMs: 0 }]);
    expect(main.delete(a)).toBe(true);
    worker.release(held, a, t0);
    expect(worker.live(t0, TTL)).toBe(0);
  });
});
