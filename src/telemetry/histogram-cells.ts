// Histograms kept in a Worker's counter cells: one cell per bucket (not cumulative, so an observation
// is one increment), then sum and count. The main thread adds the Workers up at scrape time.

/** Connect latency, seconds: 100 us to 10 s. */
export const CONNECT_BUCKETS: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Session length, seconds: 1 ms to a day. */
export const SESSION_BUCKETS: readonly number[] = [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400];

export const CONNECT_HIST_CELLS = CONNECT_BUCKETS.length + 2;
export const SESSION_HIST_CELLS = SESSION_BUCKETS.length + 2;

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

/** One histogram as /metrics.json serves it: cumulative counts by upper bound (as Prometheus's), sum and count. */
export interface HistogramView {
  buckets: Record<string, number>;
  sum: number;
  count: number;
}

export function histogramView(buckets: readonly number[], cell: (offset: number) => number): HistogramView {
  const out: Record<string, number> = {};
  let cumulative = 0;
  buckets.forEach((le, i) => {
    cumulative += cell(i);
    out[String(le)] = cumulative;
  });
  const count = cell(buckets.length + 1);
  out["+Inf"] = count;
  return { buckets: out, sum: cell(buckets.length), count };
}

/** Prometheus lines for one histogram, given a reader of a cell summed over Workers. */
export function renderHistogram(name: string, labels: string, buckets: readonly number[], cell: (offset: number) => number): string[] {
  const out: string[] = [];
  let cumulative = 0;
  buckets.forEach((le, i) => {
    cumulative += cell(i);
    out.push(`${name}_bucket{${labels},le="${le}"} ${cumulative}`);
  });
  const count = cell(buckets.length + 1);
  out.push(`${name}_bucket{${labels},le="+Inf"} ${count}`);
  out.push(`${name}_sum{${labels}} ${cell(buckets.length)}`);
  out.push(`${name}_count{${labels}} ${count}`);
  return out;
}
