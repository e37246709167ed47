// Quantiles from cumulative buckets, as histogram_quantile computes them (linear within a bucket).
import { describe, expect, test } from "bun:test";
import { quantile } from "../../src/telemetry/quantile.ts";
import type { HistogramView } from "../../src/telemetry/histogram-cells.ts";

describe("quantile", () => {
  const view: HistogramView = { buckets: [["0.001", 0], ["0.01", 10], ["0.1", 20], ["+Inf", 20]], sum: 0, count: 20 };
  test("interpolates within the bucket the rank falls in", () => {
    expect(quantile(view, 0.25)).toBeCloseTo(0.0055, 10);
    expect(quantile(view, 0.75)).toBeCloseTo(0.055, 10);
    expect(quantile(view, 1)).toBeCloseTo(0.1, 10);
  });
  test("reads the buckets by bound whatever order the pairs come in", () => {
    expect(quantile({ buckets: [["+Inf", 20], ["0.1", 20], ["0.01", 10], ["0.001", 0]], sum: 0, count: 20 }, 0.25)).toBeCloseTo(0.0055, 10);
  });
  test("a rank in +Inf reads as the highest finite bound; no observations read as null", () => {
    expect(quantile({ buckets: [["1", 1], ["+Inf", 3]], sum: 0, count: 3 }, 0.9)).toBe(1);
    expect(quantile({ buckets: [["1", 0], ["+Inf", 0]], sum: 0, count: 0 }, 0.5)).toBeNull();
  });
  test("q outside 0..1 is an error", () => {
    expect(() => quantile(view, 1.5)).toThrow("q must be within 0..1");
  });
});
