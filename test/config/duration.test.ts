import { describe, expect, test } from "bun:test";
import { parseDuration, formatDuration, MAX_DURATION_MS } from "../../src/config/duration.ts";
import { configError } from "./helpers.ts";

const P = "upstream[0].connect_timeout";

describe("parseDuration", () => {
  test.each([
    ["250ms", 250],
    ["3s", 3_000],
    ["10m", 600_000],
    ["1h", 3_600_000],
    ["1d", 86_400_000],
    ["1m30s", 90_000],
    ["1h2m3s4ms", 3_723_004],
    ["1.5s", 1_500],
    ["1.1s", 1_100],
    [".5s", 500],
    ["0.25m", 15_000],
    ["0s", 0],
    ["0", 0],
    [0, 0],
    ["24d20h31m23s647ms", MAX_DURATION_MS],
  ] as const)("%p -> %p ms", (input, ms) => {
    expect(parseDuration(input, P)).toBe(ms);
  });

  test.each([
    [30, `${P}: 30 has no unit (write it as a string with a unit, e.g. "30s" or "30ms")`],
    ["30", `${P}: "30" has no unit (write e.g. "30s" or "30ms")`],
    ["1.5", `${P}: "1.5" has no unit (write e.g. "1.5s" or "1.5ms")`],
    [-5, `${P}: -5 must not be negative`],
    ["-5s", `${P}: "-5s" must not be negative`],
    ["", `${P}: "" is empty (expected a number and a unit (ms, s, m, h, d), e.g. "30s" or "1m30s")`],
    ["soon", `${P}: "soon" is not a duration (expected a number and a unit (ms, s, m, h, d), e.g. "30s" or "1m30s")`],
    ["10 s", `${P}: "10 s" is not a duration (expected a number and a unit (ms, s, m, h, d), e.g. "30s" or "1m30s")`],
    ["10S", `${P}: "10S" is not a duration (expected a number and a unit (ms, s, m, h, d), e.g. "30s" or "1m30s")`],
    ["1m30", `${P}: "1m30" is not a duration (expected a number and a unit (ms, s, m, h, d), e.g. "30s" or "1m30s")`],
    ["1.2.3s", `${P}: "1.2.3s" is not a duration (expected a number and a unit (ms, s, m, h, d), e.g. "30s" or "1m30s")`],
    [Infinity, `${P}: Infinity is not a duration (expected a number and a unit (ms, s, m, h, d), e.g. "30s" or "1m30s")`],
    ["1.5ms", `${P}: "1.5ms" is not a whole number of milliseconds`],
    ["25d", `${P}: "25d" is too long (at most 24d20h31m23s647ms, about 24 days)`],
  ] as const)("%p is rejected", (input, message) => {
    const e = configError(() => parseDuration(input, P));
    expect(e.problems).toEqual([message]);
    expect(e.message).toBe(message);
  });
});

describe("formatDuration", () => {
  test.each([
    [0, "0s"],
    [250, "250ms"],
    [90_000, "1m30s"],
    [600_000, "10m"],
    [3_723_004, "1h2m3s4ms"],
    [90_000_000, "1d1h"],
  ])("%p ms -> %p", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  test("parseDuration reads back what formatDuration writes", () => {
    for (const ms of [1, 999, 1_000, 59_999, 3_600_001, 86_399_999, 123_456_789, MAX_DURATION_MS]) {
      expect(parseDuration(formatDuration(ms), "x")).toBe(ms);
    }
  });
});
