// "Did you mean ...?": the closest known word by Damerau-Levenshtein distance.

/**
 * Edit distance counting insertions, deletions, substitutions and swaps of two neighbours
 * (optimal string alignment): "idle_timout" -> "idle_timeout" is 1, "wieght" -> "weight" is 1.
 */
export function editDistance(a: string, b: string): number {
  // Three rolling rows are enough: a swap looks back two rows.
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, before[j - 2]! + 1);
      }
      current.push(best);
    }
    before = previous;
    previous = current;
  }
  return previous[b.length]!;
}

/** Inputs longer than this get no suggestion (keys, names and values are all far shorter). */
export const MAX_SUGGEST_INPUT = 256;

/**
 * The candidate closest to `input`, or undefined when none is close enough to be a typo:
 * at most one edit per three characters (at least one), compared case-insensitively so
 * "Workers" finds "workers". Ties go to the earlier candidate (schema order).
 */
export function closest(input: string, candidates: Iterable<string>): string | undefined {
  // Nothing we suggest is this long, so nothing can be close; and the distance costs
  // input.length * candidate.length, which a 10 MB key would turn into seconds.
  if (input.length > MAX_SUGGEST_INPUT) return undefined;
  const needle = input.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const limit = Math.max(1, Math.floor(candidate.length / 3));
    // The distance is at least the difference in length: skip what cannot be within the limit.
    if (Math.abs(needle.length - candidate.length) > limit) continue;
    const d = editDistance(needle, candidate.toLowerCase());
    if (d <= limit && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** ` (did you mean "x"?)` when a candidate is close, else "". `wrap` formats the candidate. */
export function didYouMean(
  input: string,
  candidates: Iterable<string>,
  wrap: (s: string) => string = (s) => JSON.stringify(s),
): string {
  const hit = closest(input, candidates);
  return hit === undefined ? "" : ` (did you mean ${wrap(hit)}?)`;
}
