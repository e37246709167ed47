// The Prometheus text exposition format's two rules that every family needs: label values escaped,
// and a histogram as cumulative buckets, sum and count. Every renderer uses these, none its own.

/** A label value as the format wants it: backslash, double quote and newline escaped. */
export function labelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/** `a="b",c="d"`, values escaped; "" for no labels. */
export function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels).map(([k, v]) => `${k}="${labelValue(v)}"`).join(",");
}

/**
 * Prometheus lines for one histogram under `name`, `labels` already formatted (may be ""), given a
 * reader of its non-cumulative cells: one per bucket, then the sum, then the count.
 */
export function renderHistogram(name: string, labels: string, buckets: readonly number[], cell: (offset: number) => number): string[] {
  const out: string[] = [];
  const sep = labels ? `${labels},` : "";
  const braces = labels ? `{${labels}}` : "";
  let cumulative = 0;
  buckets.forEach((le, i) => {
    cumulative += cell(i);
    out.push(`${name}_bucket{${sep}le="${le}"} ${cumulative}`);
  });
  const count = cell(buckets.length + 1);
  out.push(`${name}_bucket{${sep}le="+Inf"} ${count}`);
  out.push(`${name}_sum${braces} ${cell(buckets.length)}`);
  out.push(`${name}_count${braces} ${count}`);
  return out;
}
