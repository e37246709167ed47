// What each algorithm declares it needs, turned into warnings for configs that cannot work as written.
import { expect, test } from "bun:test";
import { balanceWarnings } from "../../src/balancing/warnings.ts";
import { parseConfig } from "../../src/config/load.ts";

const config = (balance: string, servers: string) => parseConfig(`
[[listener]]
name = "l"
bind = "127.0.0.1:0"
upstream = "u"

[[upstream]]
name = "u"
balance = "${balance}"
servers = [${servers}]
`, "warnings.toml");

test("first ignores weights and needs limits to spread load", () => {
  expect(balanceWarnings(config("first", `"127.0.0.1:1", { address = "127.0.0.1:2", weight = 3 }`))).toEqual([
    'upstream u: balance = "first" ignores weights: servers take connections in the order they are listed',
    'upstream u: balance = "first" sends every connection to the first available server, since no server has max_connections or soft_limit: set one on the servers to fill them in turn',
  ]);
  expect(balanceWarnings(config("first", `{ address = "127.0.0.1:1", max_connections = 10 }, "127.0.0.1:2"`))).toEqual([]);
  expect(balanceWarnings(config("first", `"127.0.0.1:1"`))).toEqual([]);
});

test("hashing on the client address does not keep clients in place with soft limits", () => {
  for (const balance of ["source", "consistent"]) {
    const warnings = balanceWarnings(config(balance, `{ address = "127.0.0.1:1", soft_limit = 5 }, "127.0.0.1:2"`));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain("soft_limit sends clients elsewhere");
  }
});

test("combinations every algorithm honours give no warning", () => {
  for (const balance of ["round_robin", "least_conn", "random", "p2c", "p2c_ewma", "source", "consistent"]) {
    expect(balanceWarnings(config(balance, `"127.0.0.1:1", { address = "127.0.0.1:2", weight = 3, max_connections = 4 }`)), balance).toEqual([]);
  }
});
