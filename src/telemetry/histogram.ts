// A fixed-bucket histogram in the Prometheus shape (cumulative buckets, sum, count), for main-thread timings.
import { histogramView, type HistogramView } from "./histogram-cells.ts";
import { renderHistogram } from "./prometheus-text.ts";

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
    return histogramView(this.buckets, this.#cell);
  }

  /** Prometheus lines for this histogram under `name`, with `labels` already formatted (`a="b",c="d"`). */
  render(name: string, labels: string): string[] {
    return renderHistogram(name, labels, this.buckets, this.#cell);
  }

  /** Its numbers in the shape of the Workers' histogram cells: buckets, then sum, then count. */
  readonly #cell = (o: number): number => (o < this.buckets.length ? this.counts[o]! : o === this.buckets.length ? this.sum : this.count);
}
