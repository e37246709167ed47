import { expect, test } from "bun:test";
import { editDistance, closest, didYouMean } from "../../src/config/suggest.ts";

test.each([
  ["", "", 0],
  ["abc", "", 3],
  ["idle_timout", "idle_timeout", 1],
  ["wieght", "weight", 1], // a swap of neighbours is one edit, not two
  ["metric", "metrics", 1],
  ["kitten", "sitting", 3],
  ["ca", "abc", 3], // optimal string alignment: no edits to a swapped pair
])("editDistance(%p, %p) = %p", (a, b, d) => {
  expect(editDistance(a, b)).toBe(d);
  expect(editDistance(b, a)).toBe(d);
});

test("closest allows about one edit per three letters and ignores case", () => {
  const keys = ["name", "bind", "upstream", "idle_timeout"];
  expect(closest("idle_timout", keys)).toBe("idle_timeout");
  expect(closest("idle-timeout", keys)).toBe("idle_timeout");
  expect(closest("UPSTREAM", keys)).toBe("upstream");
  expect(closest("upstreams", keys)).toBe("upstream");
  expect(closest("bnd", keys)).toBe("bind");
  expect(closest("port", keys)).toBeUndefined(); // 4 letters allow one edit; "port" is further from all
  expect(closest("timeout", keys)).toBeUndefined();
});

test("didYouMean formats the hint, or says nothing", () => {
  expect(didYouMean("roundrobin", ["round_robin"])).toBe(` (did you mean "round_robin"?)`);
  expect(didYouMean("metric", ["metrics"], (k) => `[${k}]`)).toBe(" (did you mean [metrics]?)");
  expect(didYouMean("random", ["round_robin"])).toBe("");
});
