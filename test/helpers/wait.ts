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

/**
 * Wait until every running Worker has applied every server snapshot sent so far: health changes,
 * ejections, admin state and weights (aegis_worker_snapshot_seq{worker} has reached the
 * aegis_snapshot_seq read first). Call it after seeing a change aegis logged from the main thread
 * ("server state", "server weight"): the main thread sends the snapshot right after the line, and
 * a Worker acts on it only once applied. Returns the sequence number waited for.
 */
export async function snapshotsApplied(metricsPort: number | null, options: WaitOptions = {}): Promise<number> {
  if (!metricsPort) throw new Error("snapshotsApplied: this aegis has no metrics listener");
  const read = async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const sent = /^aegis_snapshot_seq (\d+)$/m.exec(text);
    if (!sent) throw new Error("snapshotsApplied: /metrics has no aegis_snapshot_seq (an aegis without acknowledged snapshots?)");
    const applied = [...text.matchAll(/^aegis_worker_snapshot_seq\{worker="(\d+)"\} (-?\d+)$/gm)].map((m) => Number(m[2]));
    return { sent: Number(sent[1]), applied };
  };
  const target = (await read()).sent;
  await waitFor(async () => {
    const { applied } = await read();
    return applied.length > 0 && applied.every((seq) => seq >= target) ? applied : false;
  }, { what: `every Worker applied snapshot ${target}`, ...options });
  return target;
}
