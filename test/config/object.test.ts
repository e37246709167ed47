// A config object (startProxy's): the same Config as the same file gives, the file's messages with
// key paths for what is wrong, clear words for what TOML cannot hold, and a type kept in step with SCHEMA.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { parseConfig } from "../../src/config/load.ts";
import { parseConfigObject } from "../../src/config/object.ts";
import { renderInputType } from "../../src/config/input-type.ts";
import { configError } from "./helpers.ts";

const TOML = `
[global]
workers = 2
shutdown_grace = "5s"

[[listener]]
name = "front"
bind = "127.0.0.1:0"
upstream = "app"
allow = ["127.0.0.0/8"]

[[upstream]]
name = "app"
balance = "least_conn"
servers = ["127.0.0.1:7001", { address = "127.0.0.1:7002", weight = 3, backup = true }]
health = { interval = "2s", timeout = "1s", send = "PING\\r\\n", expect = "+PONG" }
`;

const OBJECT = {
  global: { workers: 2, shutdown_grace: "5s" },
  listener: [{ name: "front", bind: "127.0.0.1:0", upstream: "app", allow: ["127.0.0.0/8"] }],
  upstream: [{
    name: "app", balance: "least_conn",
    servers: ["127.0.0.1:7001", { address: "127.0.0.1:7002", weight: 3, backup: true }],
    health: { interval: "2s", timeout: "1s", send: "PING\r\n", expect: "+PONG" },
  }],
};

const problemsOf = (input: unknown) => configError(() => parseConfigObject(input)).problems;

describe("a config object", () => {
  test("gives the Config the same TOML gives", () => {
    const { source: _a, ...fromObject } = parseConfigObject(OBJECT);
    const { source: _b, ...fromFile } = parseConfig(TOML, "aegis.toml");
    expect(fromObject).toEqual(fromFile);
    expect(parseConfigObject(OBJECT).source).toBe("<library>");
  });

  test("a key set to undefined is a key left out", () => {
    const c = parseConfigObject({ ...OBJECT, global: { workers: 2, shutdown_grace: undefined } });
    expect(c.global.shutdownGraceMs).toBe(30_000);
  });

  test("every problem at once, with the file's messages and key paths", () => {
    const problems = problemsOf({
      global: { workers: "2" },
      listener: [{ bind: "127.0.0.1:0", upstrem: "app" }],
      upstream: [{ name: "app", servers: ["127.0.0.1:7001"], retries: 1.5, balance: "round_robbin" }],
    });
    expect(problems).toEqual([
      `<library>: global.workers: expected an integer, got "2" (remove the quotes)`,
      `<library>: listener[0]: unknown key "upstrem" (did you mean "upstream"?)`,
      `<library>: listener[0]: missing required key "upstream"`,
      `<library>: upstream[0].balance: "round_robbin" is not a valid value (did you mean "round_robin"?)`,
      `<library>: upstream[0].retries: expected an integer, got 1.5`,
    ]);
  });

  test("what TOML cannot hold is named by its path, and not also reported missing", () => {
    const cyclic: Record<string, unknown> = { name: "app", servers: ["127.0.0.1:7001"] };
    cyclic.self = cyclic;
    const problems = problemsOf({
      global: { watch: true, log_level: null, workers: () => 2 },
      listener: [{ bind: new Map(), upstream: "app" }],
      upstream: [cyclic],
    });
    expect(problems).toContain(`<library>: global.log_level: null is not a value: leave the key out for its default`);
    expect(problems).toContain(`<library>: global.workers: expected a string, number, boolean, array or object, got a function`);
    expect(problems).toContain(`<library>: listener[0].bind: expected a string, number, boolean, array or object, got an instance of Map`);
    expect(problems).toContain(`<library>: upstream[0].self: refers back to an object that holds it (a cycle)`);
    expect(problems).toContain(`<library>: global.watch: a config object has no file to watch: call reload() with the new config instead`);
    expect(problems.some((p) => p.includes(`missing required key "bind"`))).toBe(false);
  });

  test("not an object at all", () => {
    expect(problemsOf([OBJECT])).toEqual([`<library>: the config must be an object with listener and upstream arrays, got an array`]);
    expect(problemsOf(undefined)).toEqual([`<library>: the config must be an object with listener and upstream arrays, got undefined`]);
  });

  test("its TypeScript type (src/config/input.ts) is generated from the schema as it is now", () => {
    const written = readFileSync(new URL("../../src/config/input.ts", import.meta.url), "utf8");
    expect(written === renderInputType() ? "up to date" : "stale: run `bun scripts/readme-reference.ts`").toBe("up to date");
  });
});
