// The `health` table of an upstream and the passive-check keys: parsing, defaults and every error.
import { describe, expect, test } from "bun:test";
import { ConfigError } from "../../src/config/errors.ts";
import { parseConfig } from "../../src/config/load.ts";
import { MINIMAL, unplaced } from "./helpers.ts";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const withUpstream = (lines: string) => MINIMAL.replace(`name = "redis"`, `name = "redis"\n${lines}`);
const upstreamOf = (lines: string) => parseConfig(withUpstream(lines), "a.toml").upstreams[0]!;
const problemsOf = (lines: string): string[] => {
  try {
    parseConfig(withUpstream(lines), "a.toml");
  } catch (e) {
    if (e instanceof ConfigError) return unplaced(e.problems);
    throw e;
  }
  throw new Error("expected a ConfigError");
};

describe("upstream health", () => {
  test("absent: no active checks, passive defaults", () => {
    const u = upstreamOf("");
    expect(u.health).toBeNull();
    expect(u.failThreshold).toBe(5);
    expect(u.ejectForMs).toBe(10_000);
  });

  test("an empty table turns on TCP connect checks with the defaults", () => {
    expect(upstreamOf("health = {}").health).toEqual({ intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3, sendHex: null, expect: null });
  });

  test("send/expect text becomes bytes, TOML escapes applied", () => {
    const h = upstreamOf(`health = { interval = "500ms", timeout = "200ms", rise = 1, fall = 2, send = "PING\\r\\n", expect = "+PONG" }`).health!;
    expect(h).toMatchObject({ intervalMs: 500, timeoutMs: 200, rise: 1, fall: 2 });
    expect(Buffer.from(h.sendHex!, "hex").toString()).toBe("PING\r\n");
    expect(h.expect).toEqual({ kind: "bytes", hex: Buffer.from("+PONG").toString("hex") });
  });

  test("hex and regular-expression forms", () => {
    expect(upstreamOf(`health = { send_hex = "0D 0a", expect_hex = "2B504F4E47" }`).health).toMatchObject({ sendHex: "0d0a", expect: { kind: "bytes", hex: "2b504f4e47" } });
    expect(upstreamOf(`health = { expect_regex = "^\\\\+(PONG|OK)" }`).health!.expect).toEqual({ kind: "regex", source: "^\\+(PONG|OK)" });
  });

  test("the [[upstream]] sub-table form works too", () => {
    const text = `${MINIMAL}\n[upstream.health]\ninterval = "1s"\ntimeout = "1s"\n`;
    expect(parseConfig(text, "a.toml").upstreams[0]!.health).toMatchObject({ intervalMs: 1000, timeoutMs: 1000 });
  });

  test("every mistake is named by its key path", () => {
    expect(problemsOf(`health = { send = "a", send_hex = "00" }`)).toEqual(["a.toml: upstream[0].health: give send or send_hex, not both"]);
    expect(problemsOf(`health = { expect = "a", expect_regex = "b" }`)).toEqual(["a.toml: upstream[0].health: give only one of expect, expect_hex and expect_regex"]);
    expect(problemsOf(`health = { interval = "1s", timeout = "2s" }`)).toEqual(["a.toml: upstream[0].health.timeout: must not be longer than interval, or checks would overlap"]);
    expect(problemsOf(`health = { send_hex = "zz" }`)[0]).toContain(`upstream[0].health.send_hex: "zz" is not hex bytes`);
    expect(problemsOf(`health = { expect_regex = "(" }`)[0]).toContain(`upstream[0].health.expect_regex: "(" is not a valid regular expression`);
    expect(problemsOf(`health = { intervl = "1s" }`)).toEqual([`a.toml: upstream[0].health: unknown key "intervl" (did you mean "interval"?)`]);
    expect(problemsOf(`health = { rise = 0 }`)[0]).toContain("upstream[0].health.rise");
    expect(problemsOf(`health = "yes"`)).toEqual([`a.toml: upstream[0].health: expected a table, got "yes"`]);
    expect(problemsOf(`fail_threshold = -1`)[0]).toContain("upstream[0].fail_threshold");
  });
});

describe("protocol checks", () => {
  test("each check with its keys and defaults", () => {
    expect(upstreamOf(`health = { check = "redis", role = "primary" }`).health!.check).toEqual({ kind: "redis", password: null, username: null, role: "primary" });
    expect(upstreamOf(`health = { check = "postgres" }`).health!.check).toEqual({ kind: "postgres", user: "aegis", database: null });
    expect(upstreamOf(`health = { check = "http", path = "/primary", status = "200, 204" }`).health!.check).toEqual({ kind: "http", path: "/primary", status: "200,204", host: null });
    expect(upstreamOf(`health = { check = "mysql" }`).health!.check).toEqual({ kind: "mysql" });
    expect(upstreamOf(`health = { check = "tcp", send = "PING\\r\\n", expect = "+PONG" }`).health!.check).toBeUndefined();
  });

  test("port: checks go to another port of each server's host (Patroni's API beside PostgreSQL)", () => {
    expect(upstreamOf(`health = { check = "http", path = "/primary", port = 8008 }`).health).toMatchObject({ port: 8008, check: { kind: "http", path: "/primary" } });
    expect(upstreamOf(`health = { check = "http" }`).health).not.toHaveProperty("port");
    expect(problemsOf(`health = { check = "http", port = 0 }`)[0]).toContain("upstream[0].health.port");
    expect(problemsOf(`health = { check = "http", port = "8008" }`)[0]).toContain("upstream[0].health.port");
  });

  test("the password is read from password_file, relative to the config file", () => {
    const dir = mkdtempSync(join(tmpdir(), "aegis-pw-"));
    writeFileSync(join(dir, "redis.pass"), "  s3cret\n");
    const c = parseConfig(withUpstream(`health = { check = "redis", password_file = "redis.pass" }`), `${dir}/aegis.toml`);
    expect(c.upstreams[0]!.health!.check).toMatchObject({ password: "s3cret" });
    expect(c.upstreams[0]!.health).not.toHaveProperty("passwordFile");
    expect(() => parseConfig(withUpstream(`health = { check = "redis", password_file = "missing.pass" }`), `${dir}/aegis.toml`)).toThrow(/upstream\[0\]\.health\.password_file: cannot read .*missing\.pass/);
  });

  test("keys of another check, and bad values, say what to do", () => {
    expect(problemsOf(`health = { check = "redis", send = "PING" }`)).toEqual([`a.toml: upstream[0].health.send: only with check = "tcp" (this check is "redis")`]);
    expect(problemsOf(`health = { role = "primary" }`)).toEqual([`a.toml: upstream[0].health.role: only with check = "redis"; for PostgreSQL behind Patroni use check = "http" with path = "/primary"`]);
    expect(problemsOf(`health = { check = "http", password_file = "x" }`)).toEqual([`a.toml: upstream[0].health.password_file: only with check = "redis" (this check is "http")`]);
    expect(problemsOf(`health = { check = "redis", username = "u" }`)).toEqual([`a.toml: upstream[0].health.username: needs password_file`]);
    expect(problemsOf(`health = { check = "http", status = "ok" }`)[0]).toMatch(/status: "ok" is not a status list/);
    expect(problemsOf(`health = { check = "http", path = "primary" }`)[0]).toMatch(/path: "primary" must start with \//);
    expect(problemsOf(`health = { check = "memcached" }`)[0]).toMatch(/check: "memcached" is not a valid value/);
  });
});

test("text that goes into a check's request cannot smuggle a header or end a field", () => {
  expect(problemsOf(`health = { check = "http", host = "a\\r\\nX-Evil: 1" }`)[0]).toMatch(/host: .* is not a host name/);
  expect(problemsOf(`health = { check = "postgres", user = "a\\u0000b" }`)[0]).toMatch(/user: .* must be non-empty text without control characters/);
  expect(problemsOf(`health = { check = "postgres", database = "" }`)[0]).toMatch(/database: .* must be non-empty/);
});
