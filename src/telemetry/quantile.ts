// Quantiles estimated from a cumulative histogram, the way Prometheus's histogram_quantile does it:
// linear within the bucket the rank falls in. For the status page's p50/p99 of connect latency.
import type { HistogramView } from "./histogram-cells.ts";

/**
 * The `q`-quantile (0..1) of `view`, in the histogram's unit; null when it holds no observation.
 * A rank in the +Inf bucket reads as the highest finite bound (what histogram_quantile answers).
 */
export function quantile(view: HistogramView, q: number): number | null {
  if (!(q >= 0 && q <= 1)) throw new Error(`quantile: q must be within 0..1, got ${q}`);
  if (view.count <= 0) return null;
  // Sorted by bound, whatever order the pairs come in.
  const bounds = view.buckets.map(([le, n]) => [Number(le), n] as const).filter(([le]) => Number.isFinite(le)).sort((a, b) => a[0] - b[0]);
  const rank = q * view.count;
  let lower = 0;
  let below = 0;
  for (const [le, cumulative] of bounds) {
    if (cumulative >= rank && cumulative > below) return lower + (le - lower) * ((rank - below) / (cumulative - below));
    lower = le;
    below = cumulative;
  }
  return bounds.length ? bounds[bounds.length - 1]![0] : null;
}
