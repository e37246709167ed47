// A token bucket in one number (GCRA, the ATM "virtual scheduling" form), so it can sit in one shared cell.
//
// Instead of (tokens, last refill), GCRA keeps the theoretical arrival time (TAT): when the bucket
// would be full again. A connection at `now` conforms when TAT, moved on by one token's interval,
// is at most one full bucket ahead of `now`. One word means one compare-and-swap updates it.
import type { RateLimit } from "../config/types.ts";

export class TokenBucket {
  /** Microseconds per token (at least 1). */
  readonly interval: bigint;
  /** Microseconds of tokens a full bucket holds: exactly `count` intervals. */
  readonly capacity: bigint;

  constructor(rate: RateLimit) {
    const interval = Math.max(1, Math.floor((rate.periodMs * 1000) / rate.count));
    this.interval = BigInt(interval);
    this.capacity = BigInt(interval) * BigInt(rate.count);
  }

  /**
   * The TAT after taking one token at `now` (microseconds, the same clock as `tat`), or -1n when
   * the bucket is empty. A refused connection takes no token, so a client that backs off recovers
   * at the full rate. Contract: starting from any TAT <= now, exactly `count` calls at one instant
   * conform, then one more per `interval`.
   */
  take(tat: bigint, now: bigint): bigint {
    const next = (tat > now ? tat : now) + this.interval;
    return next - now <= this.capacity ? next : -1n;
  }
}

/** Wall-clock microseconds: the one clock every Worker reads alike (performance.now() starts per Worker). */
export function sharedClockMicros(): bigint {
  return BigInt(Math.floor((performance.timeOrigin + performance.now()) * 1000));
}
