import { describe, expect, test } from "bun:test";
import { SCHEMA, SERVER, BALANCE_ALGORITHMS, LOG_LEVELS, sectionHeader } from "../../src/config/schema.ts";
import { parsedDefault, type Fields } from "../../src/config/fields.ts";
import { parseConfig } from "../../src/config/load.ts";
import { MINIMAL } from "./helpers.ts";

// The README reference and JSON Schema are generated from SCHEMA, so its data must be complete.
const sections: [string, Fields][] = [...SCHEMA.map((s) => [sectionHeader(s), s.fields] as [string, Fields]), ["servers item", SERVER]];

describe.each(sections)("%s", (_, fields) => {
  test.each(Object.entries(fields))("%s is documented and its default is valid", (key, field) => {
    expect(field.description.length).toBeGreaterThan(10);
    // A key is required, has a default, or says in words how its default is computed: never two of these.
    expect([field.required === true, field.default !== undefined, field.defaultText !== undefined].filter(Boolean)).toHaveLength(1);
    if (field.default !== undefined) expect(() => field.convert(parsedDefault(field), key)).not.toThrow();
    if (field.type === "integer" || field.type === "duration") expect(field.min).toBeNumber();
    if (field.type === "enum") expect(field.values!.length).toBeGreaterThan(0);
  });
});

test("the only keys without a default are the three the contract requires", () => {
  const required = SCHEMA.flatMap((s) => Object.entries(s.fields).filter(([, f]) => f.required).map(([k]) => `${s.key}.${k}`));
  // upstream.servers is required unless discovery is given: upstreams.ts says so, not the schema.
  expect(required).toEqual(["listener.bind", "listener.upstream", "upstream.name"]);
});

test("every listed balance algorithm and log level is accepted", () => {
  for (const balance of BALANCE_ALGORITHMS) {
    const text = MINIMAL.replace(`name = "redis"`, `name = "redis"\nbalance = "${balance}"`);
    expect(parseConfig(text, "a").upstreams[0]!.balance).toBe(balance);
  }
  for (const level of LOG_LEVELS) {
    expect(parseConfig(`[global]\nlog_level = "${level}"\n${MINIMAL}`, "a").global.logLevel).toBe(level);
  }
});
