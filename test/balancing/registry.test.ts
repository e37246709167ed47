// The registry: every algorithm the config accepts is built, and runs the contract in its own test file.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { BALANCE_ALGORITHMS } from "../../src/config/schema.ts";
import { ALGORITHMS, BALANCERS } from "../../src/balancing/index.ts";

test.each([...BALANCE_ALGORITHMS])("%s has a factory and a test file that runs the contract", (name) => {
  expect(typeof ALGORITHMS[name]).toBe("function");
  expect(typeof BALANCERS[name]).toBe("function");
  const file = new URL(`./${name.replaceAll("_", "-")}.test.ts`, import.meta.url);
  expect(readFileSync(file, "utf8")).toContain(`balancerContract("${name}"`);
});

test("the registry knows no algorithm the config does not", () => {
  expect(Object.keys(BALANCERS).sort()).toEqual([...BALANCE_ALGORITHMS].sort());
});
