// Values of absurd length (a 10 MB key, a 1 MB address) give short error lines: quoted values are
// cut to 60 characters with their real length, and no did-you-mean is computed for them.
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import { closest } from "../../src/config/suggest.ts";
import { quote } from "../../src/config/quote.ts";
import { configError, MINIMAL, problemsOf } from "./helpers.ts";

const MB = 1024 * 1024;
const long = (n: number, c = "a") => c.repeat(n);
const cut = (c: string, n: number) => `"${c.repeat(60)}…" (${n} characters)`;

/** MINIMAL with `line` under its [[listener]]. */
const inListener = (line: string) => MINIMAL.replace(`upstream = "redis"`, `upstream = "redis"\n${line}`);

describe("quote", () => {
  test("short values are JSON-quoted as before; long ones are cut with their length", () => {
    expect(quote("abc")).toBe(`"abc"`);
    expect(quote(long(60))).toBe(`"${long(60)}"`);
    expect(quote(long(61))).toBe(cut("a", 61));
    // A surrogate pair is not split at the cut.
    expect(quote(`${long(59)}😀${long(10)}`)).toBe(`"${long(59)}…" (71 characters)`);
  });
});

describe("long values in messages", () => {
  test("a 10 MB unknown key: one short line, no did-you-mean", () => {
    const problems = problemsOf(`[global]\n${long(10 * MB, "w")} = 1\n${MINIMAL}`);
    expect(problems).toEqual([`aegis.toml: global: unknown key ${cut("w", 10 * MB)}`]);
  });

  test("a 10 MB top-level key", () => {
    expect(problemsOf(`${long(10 * MB, "w")} = 1\n${MINIMAL}`)).toEqual([`aegis.toml: unknown top-level key ${cut("w", 10 * MB)}`]);
  });

  test.each([
    ["bind", MINIMAL.replace(`bind = "127.0.0.1:8081"`, `bind = "${long(MB)}:80"`),
      `listener[0].bind: ${cut("a", MB + 3)} is not a valid host name`],
    ["idle_timeout", inListener(`idle_timeout = "${long(MB, "1")}x"`),
      `listener[0].idle_timeout: ${cut("1", MB + 1)} is not a duration (expected a number and a unit (ms, s, m, h, d), e.g. "30s" or "1m30s")`],
    ["connection_rate_per_ip", inListener(`connection_rate_per_ip = "${long(MB, "1")}"`),
      `listener[0].connection_rate_per_ip: ${cut("1", MB)} is not a rate (expected <count>/<duration>, e.g. "50/10s" or "100/m")`],
    ["allow", inListener(`allow = ["${long(MB, "1")}"]`),
      `listener[0].allow[0]: ${cut("1", MB)} is not an IP address or CIDR (expected e.g. "10.0.0.0/8", "192.168.1.7" or "2001:db8::/32")`],
    ["name", inListener(`name = "${long(MB)}"`),
      `listener[0].name: ${cut("a", MB)} is not a valid name (1-64 letters, digits, "_", "-" or ".", starting with a letter or digit)`],
  ])("a 1 MB %s", (_key, toml, message) => {
    expect(problemsOf(toml)).toEqual([`aegis.toml: ${message}`]);
  });

  test("a 1 MB value for a key with a fixed set of values: no did-you-mean, and the values listed", () => {
    expect(problemsOf(`[global]\nlog_level = "${long(MB, "i")}"\n${MINIMAL}`)).toEqual([
      `aegis.toml: global.log_level: ${cut("i", MB)} is not a valid value (expected one of "error", "warn", "info", "debug")`,
    ]);
  });

  test("a 1 MB upstream reference", () => {
    const problems = problemsOf(MINIMAL.replace(`upstream = "redis"`, `upstream = "${long(MB, "r")}"`));
    expect(problems).toContain(`aegis.toml: listener[0].upstream: no [[upstream]] named ${cut("r", MB)}`);
    expect(problems.join("\n").length).toBeLessThan(1000);
  });

  test("a syntax error on a 10 MB line: the excerpt shows a window around the column", () => {
    const e = configError(() => parseConfig(`[global]\nlog_level = "${long(10 * MB, "x")}" junk\n${MINIMAL}`, "aegis.toml"));
    expect(e.problems).toEqual([`aegis.toml:2:${10 * MB + 16}: each key-value declaration must be followed by an end-of-line`]);
    expect(e.message.length).toBeLessThan(600);
    const [, before, shown, caret] = e.message.split("\n");
    expect(before).toBe("1:  [global]");
    expect(shown).toStartWith("2:  …xxx");
    // The caret still points at the column: under the "j" of "junk".
    expect(shown!.slice(caret!.indexOf("^"))).toStartWith("junk");
  });

  test("a short line's excerpt is exactly smol-toml's", () => {
    const e = configError(() => parseConfig(`[global]\nworkers = 4\nlog_level = \n`, "aegis.toml"));
    expect(e.message).toBe(["aegis.toml:3:13: invalid value", "2:  workers = 4", "3:  log_level = ", "                ^"].join("\n"));
  });

  test("a 1 MB token_file path is cut too", () => {
    const problems = problemsOf(`[admin]\ntoken_file = "/${long(MB, "t")}"\n${MINIMAL}`);
    expect(problems).toEqual([`aegis.toml: admin.token_file: cannot read ${quote(`/${long(MB, "t")}`)}: the path is too long`]);
  });
});

describe("did-you-mean", () => {
  test("is not computed for absurd lengths", () => {
    expect(closest(long(10 * MB, "w"), ["workers", "watch"])).toBeUndefined();
    expect(closest("wrokers", ["workers", "watch"])).toBe("workers");
  });

  test("skips candidates too different in length to be within the limit, with the same answers", () => {
    expect(closest("idle_timout", ["name", "bind", "idle_timeout"])).toBe("idle_timeout");
    expect(closest("workersssss", ["workers"])).toBeUndefined();
    expect(closest("log", ["log_level", "log_format"])).toBeUndefined();
  });
});
