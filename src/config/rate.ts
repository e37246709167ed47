// Rates such as "50/10s" (50 per 10 seconds) or "100/m" (100 per minute), for per-client limits.
import type { RateLimit } from "./types.ts";
import { problem } from "./errors.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { quote } from "./quote.ts";

/** A loose form for editors and the JSON Schema; parseRate checks the rest. */
export const RATE_PATTERN = /^\d+\/(?:\d+(?:\.\d+)?)?(?:ms|s|m|h|d)+/;
const MAX_COUNT = 1_000_000;

/**
 * Parses "<count>/<duration>", where a bare unit means one of it ("10/s" = "10/1s"). Throws
 * ConfigError naming `path`: the count must be 1..1000000 and the period at least 1ms.
 */
export function parseRate(value: string, path: string): RateLimit {
  const shown = quote(value);
  // Spaces are refused rather than trimmed, like everywhere else in the file: " 50/10s" is a slip.
  if (/\s/.test(value)) throw problem(`${path}: ${shown} must not contain spaces (write e.g. "50/10s")`);
  const slash = value.indexOf("/");
  if (slash < 0) throw problem(`${path}: ${shown} is not a rate (expected <count>/<duration>, e.g. "50/10s" or "100/m")`);
  const countText = value.slice(0, slash);
  const count = /^\d+$/.test(countText) ? Number(countText) : NaN;
  if (!(count >= 1 && count <= MAX_COUNT)) {
    throw problem(`${path}: ${shown} needs a whole count from 1 to ${MAX_COUNT} before the "/"`);
  }
  let periodText = value.slice(slash + 1);
  if (/^(ms|s|m|h|d)$/.test(periodText)) periodText = `1${periodText}`;
  const periodMs = parseDuration(periodText, path);
  if (periodMs < 1) throw problem(`${path}: ${shown} needs a period of at least 1ms after the "/"`);
  return { count, periodMs };
}

export function formatRate(rate: RateLimit): string {
  return `${rate.count}/${formatDuration(rate.periodMs)}`;
}
