// Durations such as "250ms", "1m30s" or "1.5s", to and from whole milliseconds.
import { problem } from "./errors.ts";
import { quote, shorten } from "./quote.ts";

/** Largest first: the order a duration must write its units in. */
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;

/** One `<number><unit>` part; "ms" is tried before "m" so "250ms" is not 250 minutes + "s". */
const PART = /(\d+(?:\.\d+)?|\.\d+)(ms|d|h|m|s)/y;
const BARE_NUMBER = /^\d+(?:\.\d+)?$/;
const HINT = `a number and a unit (ms, s, m, h, d), e.g. "30s" or "1m30s"`;

/** setTimeout silently turns longer delays into 1 ms, so nothing longer can be a timer. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/**
 * Parses a duration into milliseconds. Zero needs no unit ("0", 0); any other bare number
 * is refused because "30" could mean seconds or milliseconds. Throws ConfigError naming `path`.
 */
export function parseDuration(value: string | number, path: string): number {
  const shown = typeof value === "string" ? quote(value) : JSON.stringify(value);
  if (typeof value === "number") {
    if (value === 0) return 0;
    if (!Number.isFinite(value)) throw problem(`${path}: ${value} is not a duration (expected ${HINT})`);
    if (value < 0) throw problem(`${path}: ${value} must not be negative`);
    throw problem(`${path}: ${value} has no unit (write it as a string with a unit, e.g. "${value}s" or "${value}ms")`);
  }
  if (value === "") throw problem(`${path}: "" is empty (expected ${HINT})`);
  if (value.startsWith("-")) throw problem(`${path}: ${shown} must not be negative`);
  if (BARE_NUMBER.test(value)) {
    if (Number(value) === 0) return 0;
    throw problem(`${path}: ${shown} has no unit (write e.g. "${shorten(value)}s" or "${shorten(value)}ms")`);
  }

  let total = 0;
  let previous: Unit | undefined;
  PART.lastIndex = 0;
  // Bounded: each pass consumes at least two characters or throws.
  while (PART.lastIndex < value.length) {
    const match = PART.exec(value);
    if (!match) throw problem(`${path}: ${shown} is not a duration (expected ${HINT})`);
    const unit = match[2] as Unit;
    // "1h1h" or "30s1m" is most likely a slip: each unit once, largest first, as formatDuration writes them.
    if (previous === unit) throw problem(`${path}: ${shown} has the unit "${unit}" twice (write each unit once, e.g. "1h30m")`);
    if (previous !== undefined && UNIT_MS[unit] > UNIT_MS[previous]) {
      throw problem(`${path}: ${shown} has "${unit}" after "${previous}" (write the largest unit first, e.g. "1h30m")`);
    }
    previous = unit;
    total += Number(match[1]) * UNIT_MS[unit];
  }
  const ms = Math.round(total);
  // Tolerance for binary fractions: "1.1s" sums to 1100.0000000000002.
  if (Math.abs(total - ms) > 1e-6) throw problem(`${path}: ${shown} is not a whole number of milliseconds`);
  if (ms > MAX_DURATION_MS) throw problem(`${path}: ${shown} is too long (at most ${formatDuration(MAX_DURATION_MS)}, about 24 days)`);
  return ms;
}

/** The shortest exact spelling parseDuration accepts back: 90000 -> "1m30s", 0 -> "0s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  let rest = ms;
  let out = "";
  for (const [unit, size] of Object.entries(UNIT_MS)) {
    const count = Math.floor(rest / size);
    if (count > 0) {
      out += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return out;
}
