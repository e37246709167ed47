// Waiting for an event instead of sleeping and hoping (issue 8): the suite runs on machines whose
// CPUs are busy with other work, where "50 ms is enough for a Worker to see it" does not hold.

export interface WaitOptions {
  /** Give up after this long (default 10 s: generous, it costs nothing when the state shows early). */
  timeoutMs?: number;
  /** What is awaited, for the failure message: "server a drained in every Worker". */
  what?: string;
  /** Pause between two checks (default 20 ms). */
  intervalMs?: number;
  /** Give up after this many checks too (default: no limit but the time). */
  maxTries?: number;
}

/**
 * Check `probe` until it returns something other than false, null or undefined, and return that.
 * Bounded in time and in tries; on failure the error names `what` and the last value seen (or the
 * last error `probe` threw), so a failure says what state was reached instead of "timeout".
 */
export async function waitFor<T>(probe: () => T | false | null | undefined | Promise<T | false | null | undefined>, options: WaitOptions = {}): Promise<T> {
  const { timeoutMs = 10_000, what = "condition", intervalMs = 20, maxTries = Infinity } = options;
  const started = performance.now();
  let tries = 0;
  let last: unknown = undefined;
  let lastError: unknown = undefined;
  for (;;) {
    tries++;
    try {
      const value = await probe();
      if (value !== false && value !== null && value !== undefined) return value;
      last = value;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    const elapsed = performance.now() - started;
    if (elapsed >= timeoutMs || tries >= maxTries) {
      const seen = lastError !== undefined ? `last check threw: ${(lastError as Error)?.message ?? String(lastError)}` : `last check gave ${JSON.stringify(last)}`;
      throw new Error(`waitFor: ${what} not reached after ${Math.round(elapsed)} ms and ${tries} check(s); ${seen}`);
    }
    await Bun.sleep(Math.min(intervalMs, Math.max(1, timeoutMs - elapsed)));
  }
}

/** Resolves with `promise`'s value, or rejects naming `what` if it has not settled within `timeoutMs`. */
export async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${timeoutMs} ms`)), timeoutMs)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
