// The route stage's rule: ordered routes, every matcher of a route must match, the first match wins,
// a route that cannot decide yet holds back the ones after it, and `final` always decides.
import { describe, expect, test } from "bun:test";
import { RouteTable, Verdict, type Matcher, type RouteInput } from "../../src/route/table.ts";

/** Matches when the first bytes begin with `word`; not yet while they are a shorter prefix of it. */
const startsWith = (word: string): Matcher => ({
  readsBytes: true,
  test(input, final) {
    const bytes = Buffer.from(input.firstBytes()).toString("latin1");
    if (bytes.startsWith(word)) return Verdict.match;
    if (word.startsWith(bytes) && !final) return Verdict.notYet;
    return Verdict.noMatch;
  },
});

/** A matcher on the client address only: never reads bytes. */
const from = (address: string): Matcher => ({ readsBytes: false, test: (input) => (input.clientAddress === address ? Verdict.match : Verdict.noMatch) });

const input = (bytes: string, clientAddress = "10.0.0.1"): RouteInput & { reads: number } => {
  const self = { clientAddress, reads: 0, firstBytes: () => (self.reads++, Buffer.from(bytes, "latin1")), clientHello: () => ({ status: "pending" as const }), clientIp: () => null, country: () => null };
  return self;
};

describe("RouteTable", () => {
  test("no routes: the default, and nothing is read", () => {
    const table = new RouteTable([], "default");
    const i = input("anything");
    expect(table.readsBytes).toBe(false);
    expect(table.choose(i, false)).toBe("default");
    expect(i.reads).toBe(0);
  });

  test("the first route whose matchers all match wins, in order", () => {
    const table = new RouteTable([
      { matchers: [from("10.0.0.9")], target: "nine" },
      { matchers: [from("10.0.0.1"), startsWith("GET")], target: "web-from-one" },
      { matchers: [from("10.0.0.1")], target: "one" },
    ], "default");
    expect(table.readsBytes).toBe(true);
    expect(table.choose(input("GET /", "10.0.0.1"), false)).toBe("web-from-one");
    expect(table.choose(input("PING", "10.0.0.1"), false)).toBe("one");
    expect(table.choose(input("GET /", "10.0.0.9"), false)).toBe("nine");
    expect(table.choose(input("GET /", "10.0.0.2"), false)).toBe("default");
  });

  test("a route that cannot decide yet holds back later routes; final makes it decide", () => {
    const table = new RouteTable([
      { matchers: [startsWith("BETA")], target: "beta" },
      { matchers: [from("10.0.0.1")], target: "one" },
    ], "default");
    expect(table.choose(input(""), false)).toBeNull();
    expect(table.choose(input("BE"), false)).toBeNull();
    expect(table.choose(input("BETA!"), false)).toBe("beta");
    expect(table.choose(input("BX"), false)).toBe("one"); // decided: no match, so the next route
    expect(table.choose(input("BE"), true)).toBe("one");
    expect(table.choose(input("BE", "10.0.0.2"), true)).toBe("default");
  });

  test("a matcher that answers notYet even when final counts as no match", () => {
    const stubborn: Matcher = { readsBytes: true, test: () => Verdict.notYet };
    const table = new RouteTable([{ matchers: [stubborn], target: "never" }], "default");
    expect(table.choose(input("x"), false)).toBeNull();
    expect(table.choose(input("x"), true)).toBe("default");
  });

  test("within a route, one no match decides even while another matcher waits", () => {
    const table = new RouteTable([{ matchers: [startsWith("BETA"), from("10.0.0.9")], target: "beta" }], "default");
    expect(table.choose(input("BE", "10.0.0.1"), false)).toBe("default");
    expect(table.choose(input("BE", "10.0.0.9"), false)).toBeNull();
  });
});
