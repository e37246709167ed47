// The registry: every algorithm the config accepts is built, and runs the contract in its own test file.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { BALANCE_ALGORITHMS } from "../../src/config/schema.ts";
import { ALGORITHMS, BALANCERS } from "../../src/balancing/registry.ts";

test.each([...BALANCE_ALGORITHMS])("%s has a factory and a test file that runs the contract", (name) => {
  expect(typeof ALGORITHMS[name].build).toBe("function");
  expect(typeof BALANCERS[name]).toBe("function");
  const file = new URL(`./${name.replaceAll("_", "-")}.test.ts`, import.meta.url);
  expect(readFileSync(file, "utf8")).toContain(`balancerContract("${name}"`);
});

test("the registry knows no algorithm the config does not", () => {
  expect(Object.keys(BALANCERS).sort()).toEqual([...BALANCE_ALGORITHMS].sort());
});

test("only algorithms that count load or learn latency have those hooks: no no-op stubs", () => {
  const views = [{ weight: 1, available: true, backup: false }];
  const hooks = Object.fromEntries(Object.entries(ALGORITHMS).map(([name, a]) => {
    const b = a.build(views, () => 0.5);
    return [name, [b.onTake, b.onDrop, b.onLatency].map((h) => typeof h === "function")];
  }));
  expect(hooks).toEqual({
    round_robin: [false, false, false], random: [false, false, false], source: [false, false, false],
    consistent: [false, false, false], first: [false, false, false],
    least_conn: [true, true, false], p2c: [true, true, false], p2c_ewma: [true, true, true],
  });
});

test("every algorithm declares what it needs", () => {
  for (const [name, a] of Object.entries(ALGORITHMS)) {
    expect(a.needs.length, name).toBeGreaterThan(0);
    for (const need of a.needs) expect(["client_address", "weights", "max_connections"]).toContain(need);
  }
  expect(ALGORITHMS.source.needs).toContain("client_address");
  expect(ALGORITHMS.consistent.needs).toContain("client_address");
  expect(ALGORITHMS.first.needs).not.toContain("weights");
});
