// SlotRegistry: counter slots by name, stable for the life of the process across reloads.
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/types.ts";
import { SlotRegistry } from "../../src/control/slots.ts";

/** `listeners` by name; `upstreams` as name -> server addresses. */
function config(listeners: string[], upstreams: Record<string, string[]>): Config {
  const first = Object.keys(upstreams)[0]!;
  return parseConfig(
    listeners.map((name, i) => `[[listener]]\nname = "${name}"\nbind = "127.0.0.1:${7000 + i}"\nupstream = "${first}"\n`).join("\n") +
      Object.entries(upstreams).map(([name, servers]) => `[[upstream]]\nname = "${name}"\nservers = [${servers.map((s) => JSON.stringify(s)).join(", ")}]\n`).join("\n"),
    "slots-test.toml",
  );
}

const range = (n: number, from = 1) => Array.from({ length: n }, (_, i) => `10.0.${Math.floor((from + i) / 250)}.${(from + i) % 250}:80`);

describe("SlotRegistry", () => {
  test("room for four times the first config, at least 64 listeners and 256 servers", () => {
    expect(new SlotRegistry(config(["a"], { app: ["127.0.0.1:1"] }))).toMatchObject({ listenerCapacity: 64, serverCapacity: 256 });
    const big = config(Array.from({ length: 20 }, (_, i) => `l${i}`), { app: range(70), other: range(10, 100) });
    expect(new SlotRegistry(big)).toMatchObject({ listenerCapacity: 80, serverCapacity: 320 });
  });

  test("the first config gets slots in order; assign reports the capacities", () => {
    const c = config(["a", "b"], { app: ["127.0.0.1:1", "127.0.0.1:2"], db: ["127.0.0.1:3"] });
    expect(new SlotRegistry(c).assign(c)).toEqual({ listeners: [0, 1], servers: [[0, 1], [2]], listenerCapacity: 64, serverCapacity: 256 });
  });

  test("a reload keeps every known name's slot, whatever its position, and gives new names new slots", () => {
    const first = config(["a", "b"], { app: ["127.0.0.1:1", "127.0.0.1:2"], db: ["127.0.0.1:3"] });
    const reg = new SlotRegistry(first);
    reg.assign(first);
    const next = config(["c", "b", "a"], { db: ["127.0.0.1:3", "127.0.0.1:4"], app: ["127.0.0.1:2"] });
    expect(reg.assign(next)).toMatchObject({ listeners: [2, 1, 0], servers: [[2, 3], [1]] });
  });

  test("a name removed and brought back gets its old slot, never one another name took meanwhile", () => {
    const first = config(["a", "b"], { app: ["127.0.0.1:1"] });
    const reg = new SlotRegistry(first);
    reg.assign(first);
    reg.assign(config(["b", "c"], { app: ["127.0.0.1:2"] }));
    expect(reg.assign(config(["a", "c"], { app: ["127.0.0.1:1", "127.0.0.1:2"] }))).toMatchObject({ listeners: [0, 2], servers: [[0, 1]] });
  });

  test("the same server address in two upstreams counts in two slots", () => {
    const c = config(["a"], { app: ["127.0.0.1:1"], copy: ["127.0.0.1:1"] });
    expect(new SlotRegistry(c).assign(c).servers).toEqual([[0], [1]]);
  });

  test("past the room, assign throws and says to restart", () => {
    const first = config(["a"], { app: ["127.0.0.1:1"] });
    const reg = new SlotRegistry(first);
    reg.assign(first);
    // 64 listener names over the process's life fit; the 65th does not.
    for (let batch = 0; batch < 7; batch++) reg.assign(config(Array.from({ length: 9 }, (_, i) => `x${batch * 9 + i}`), { app: ["127.0.0.1:1"] }));
    expect(() => reg.assign(config(["last-one"], { app: ["127.0.0.1:1"] }))).toThrow(/counter room for 64 listeners.*restart aegis/);
  });

  describe("a full room takes back the slot of a server gone long enough", () => {
    // 256 servers fill the room; then each new name needs a gone one's slot.
    const setup = () => {
      const first = config(["a"], { app: range(64) }); // room for 256
      const reg = new SlotRegistry(first);
      reg.assign(config(["a"], { app: range(256) }));
      return reg;
    };
    const zeroed: number[] = [];
    const reclaim = (now: number, idle: (slot: number) => boolean = () => true) => ({ now, goneForMs: 1000, idle, zero: (slot: number) => void zeroed.push(slot) });

    test("not before goneForMs, not while busy; then the slot is zeroed and reused", () => {
      const reg = setup();
      const next = config(["a"], { app: [...range(255, 2), "10.9.9.9:80"] }); // 10.0.0.1:80 (slot 0) gone, one new
      reg.inUse(config(["a"], { app: range(255, 2) }), 0);
      expect(() => reg.assign(next, reclaim(500))).toThrow(/none has been gone long enough/);
      expect(() => reg.assign(next, reclaim(2000, () => false))).toThrow(/none has been gone long enough/);
      zeroed.length = 0;
      const slots = reg.assign(next, reclaim(2000));
      expect(slots.servers[0]!.at(-1)).toBe(0);
      expect(zeroed).toEqual([0]);
      // The old name is forgotten: back again, it needs a slot of its own.
      reg.inUse(next, 2000);
      expect(() => reg.assign(config(["a"], { app: [...range(256)] }), reclaim(2500))).toThrow(/counter room/);
    });

    test("a server still in the config is never taken back, however long others are gone", () => {
      const reg = setup();
      reg.inUse(config(["a"], { app: range(256) }), 0);
      expect(() => reg.assign(config(["a"], { app: [...range(256), "10.9.9.9:80"] }), reclaim(1e9))).toThrow(/counter room/);
    });
  });
});
