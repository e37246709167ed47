// A fixed-bucket histogram in the Prometheus shape (cumulative buckets, sum, count), for main-thread timings.
import { histogramView, type HistogramView } from "./histogram-cells.ts";

/** Seconds: from 0.5 ms to 10 s, roughly 2.5x apart. */
export const DEFAULT_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Histogram {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly buckets: readonly number[] = DEFAULT_BUCKETS) {
    this.counts = new Float64Array(buckets.length);
  }

  observe(value: number): void {
    this.sum += value;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) {
      if (value <= this.buckets[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }

  /** The same numbers as /metrics.json serves every histogram. */
  view(): HistogramView {
    const n = this.buckets.length;
    return histogramView(this.buckets, (o) => (o < n ? this.counts[o]! : o === n ? this.sum : this.count));
  }

  /** Prometheus lines for this histogram under `name`, with `labels` already formatted (`a="b",c="d"`). */
  render(name: string, labels: string): string[] {
    const out: string[] = [];
    let cumulative = 0;
    const sep = labels ? `${labels},` : "";
    this.buckets.forEach((le, i) => {
      cumulative += this.counts[i]!;
      out.push(`${name}_bucket{${sep}le="${le}"} ${cumulative}`);
    });
    out.push(`${name}_bucket{${sep}le="+Inf"} ${this.count}`);
    out.push(`${name}_sum${labels ? `{${labels}}` : ""} ${this.sum}`);
    out.push(`${name}_count${labels ? `{${labels}}` : ""} ${this.count}`);
    return out;
  }
}
