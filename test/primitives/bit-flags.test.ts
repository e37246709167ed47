// defineBitFlags: each flag reads back what was written, independently of the others, per instance.
import { expect, test } from "bun:test";
import { defineBitFlags } from "../../src/primitives/bit-flags.ts";

class Holder {
  bits = 0;
  declare a: boolean;
  declare b: boolean;
  declare c: boolean;
}
defineBitFlags(Holder, "bits", ["a", "b", "c"]);

test("flags start false, are set and cleared one at a time, and do not leak between instances", () => {
  const x = new Holder();
  const y = new Holder();
  expect([x.a, x.b, x.c]).toEqual([false, false, false]);
  x.b = true;
  expect([x.a, x.b, x.c, x.bits]).toEqual([false, true, false, 2]);
  x.a = true;
  x.c = true;
  x.b = false;
  expect([x.a, x.b, x.c, x.bits]).toEqual([true, false, true, 5]);
  x.a = true; // setting twice changes nothing
  expect(x.bits).toBe(5);
  expect([y.a, y.b, y.c, y.bits]).toEqual([false, false, false, 0]);
  expect(Object.keys(x)).toEqual(["bits"]); // one own slot, whatever the number of flags
});

test("more than 31 flags is refused", () => {
  expect(() => defineBitFlags(class { bits = 0; }, "bits", Array.from({ length: 32 }, (_, i) => `f${i}`))).toThrow("do not fit");
});
