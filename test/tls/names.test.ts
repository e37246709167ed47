// SNI name patterns: what checkNamePattern accepts and why it refuses, and what compileNames matches.
import { describe, expect, test } from "bun:test";
import { checkNamePattern, compileNames } from "../../src/tls/names.ts";

describe("compileNames", () => {
  test("exact names: case-insensitive, a trailing dot on either side ignored", () => {
    const match = compileNames(["db.example.com", "API.Example.org."]);
    for (const name of ["db.example.com", "DB.EXAMPLE.COM", "db.example.com.", "api.example.org", "Api.Example.Org."]) expect(match(name)).toBe(true);
    for (const name of ["example.com", "a.db.example.com", "db.example.co", "db.example.com..", "xdb.example.com"]) expect(match(name)).toBe(false);
  });

  test("a wildcard is exactly one whole label", () => {
    const match = compileNames(["*.db.example.com"]);
    expect(match("a.db.example.com")).toBe(true);
    expect(match("A-1_b.DB.example.com.")).toBe(true);
    expect(match("db.example.com")).toBe(false);
    expect(match("a.b.db.example.com")).toBe(false);
    expect(match(".db.example.com")).toBe(false);
    expect(match("adb.example.com")).toBe(false);
    expect(match("a.db.example.com.evil")).toBe(false);
  });

  test("exact names and wildcards together; the apex needs its own exact name", () => {
    const match = compileNames(["example.com", "*.example.com", "*.eu.example.net"]);
    expect(["example.com", "www.example.com", "x.eu.example.net"].map(match)).toEqual([true, true, true]);
    expect(["a.www.example.com", "eu.example.net", "example.net"].map(match)).toEqual([false, false, false]);
  });

  test("no SNI, an empty name, an empty list: nothing matches", () => {
    expect(compileNames(["*.example.com"])(null)).toBe(false);
    expect(compileNames(["*.example.com"])("")).toBe(false);
    expect(compileNames([])("example.com")).toBe(false);
    expect(compileNames([])(null)).toBe(false);
  });

  test("only ASCII is case-folded: the Kelvin sign is not a k", () => {
    expect(compileNames(["k.example.com"])("\u212a.example.com")).toBe(false);
    expect(compileNames(["*.example.com"])("\u212a.example.com")).toBe(true); // any one label, whatever it holds
  });

  test("an invalid pattern throws with its reason (config validation refuses it first)", () => {
    expect(() => compileNames(["ok.example.com", "a*.example.com"])).toThrow(`SNI pattern "a*.example.com" has a "*" that is not the whole first label`);
  });

  test("many patterns: every one matches what it should and nothing else", () => {
    const patterns = Array.from({ length: 2000 }, (_, i) => (i % 2 ? `*.s${i}.example.com` : `h${i}.example.com`));
    const match = compileNames(patterns);
    for (let i = 0; i < 2000; i++) {
      if (i % 2) {
        expect(match(`x.s${i}.example.com`)).toBe(true);
        expect(match(`s${i}.example.com`)).toBe(false);
      } else {
        expect(match(`h${i}.example.com`)).toBe(true);
        expect(match(`x.h${i}.example.com`)).toBe(false);
      }
    }
  });
});

describe("checkNamePattern", () => {
  const label63 = "a".repeat(63);
  const name253 = `${label63}.${label63}.${label63}.${"b".repeat(61)}`;

  test.each([
    "db.example.com", "DB.Example.COM.", "*.db.example.com", "*.com", "localhost", "_acme-challenge.example.com",
    "xn--bcher-kva.example", "123.example.com",
  ])("%p is a pattern", (p) => {
    expect(checkNamePattern(p)).toBeUndefined();
  });

  test("a label of 63 characters and a name of 253 (its trailing dot not counted) are the limits", () => {
    expect(name253.length).toBe(253);
    for (const p of [label63, `*.${label63}`, name253, `${name253}.`]) expect(checkNamePattern(p)).toBeUndefined();
    expect(checkNamePattern(`${"a".repeat(64)}.example.com`)).toBe("has a label longer than 63 characters");
    expect(checkNamePattern(`a${name253}`)).toBe("is longer than 253 characters");
  });

  test.each([
    ["", "is empty"],
    [".", "is empty"],
    ["*", `is "*" alone`],
    ["*.", `is "*" alone`],
    ["a*.example.com", `has a "*" that is not the whole first label`],
    ["*a.example.com", `has a "*" that is not the whole first label`],
    ["www.*.example.com", `has a "*" that is not the whole first label`],
    ["*.*.example.com", `has a "*" that is not the whole first label`],
    ["*example.com", `has a "*" that is not the whole first label`],
    ["a..example.com", "has an empty label"],
    [".example.com", "has an empty label"],
    ["example.com..", "has an empty label"],
    ["*..example.com", "has an empty label"],
    ["a b.example.com", "has a character other than"],
    ["b\u00fccher.example", "has a character other than"],
    ["db.example.com:443", "has a character other than"],
  ])("%p is refused: %s", (p, why) => {
    expect(checkNamePattern(p)).toStartWith(why);
  });
});
