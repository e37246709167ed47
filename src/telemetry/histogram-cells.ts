// Histograms kept in a Worker's counter cells: one cell per bucket (not cumulative, so an observation
// is one increment), then sum and count. The main thread adds the Workers up at scrape time. The
// buckets, and so the cell counts, are part of the shared map (src/shared/layout.ts).

/** Record `value` in the histogram at `base`. Values above the last bucket count only in +Inf (sum, count). */
export function observe(cells: Float64Array, base: number, buckets: readonly number[], value: number): void {
  for (let i = 0; i < buckets.length; i++) {
    if (value <= buckets[i]!) {
      cells[base + i]! += 1;
      break;
    }
  }
  cells[base + buckets.length]! += value;
  cells[base + buckets.length + 1]! += 1;
}

/**
 * One histogram as /metrics.json serves it: cumulative counts by upper bound (as Prometheus's), sum and
 * count. Buckets are [le, count] pairs, not an object: an object would put the integer bounds ("1", "5")
 * before "0.005", since JavaScript orders integer-like keys first.
 */
export interface HistogramView {
  buckets: [le: string, count: number][];
  sum: number;
  count: number;
}

export function histogramView(buckets: readonly number[], cell: (offset: number) => number): HistogramView {
  const out: [string, number][] = [];
  let cumulative = 0;
  buckets.forEach((le, i) => {
    cumulative += cell(i);
    out.push([String(le), cumulative]);
  });
  const count = cell(buckets.length + 1);
  out.push(["+Inf", count]);
  return { buckets: out, sum: cell(buckets.length), count };
}
