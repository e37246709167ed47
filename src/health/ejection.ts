// Passive checks (like Envoy's outlier detection): consecutive failures eject a server for a time that
// doubles with each ejection in a row. Pure: the caller supplies the clock and the success count.

export const MAX_EJECTION_MS = 5 * 60_000;

export interface EjectionState {
  /** Failures seen in a row (no session that ended well in between). */
  failures: number;
  /** Successful connections counted when the last failure was seen. */
  successesAtLastFailure: number;
  /** Ejections in a row; reset by a session that ended well after re-admission. */
  ejections: number;
  successesAtReadmission: number;
  /** While now < ejectedUntil the server is skipped. */
  ejectedUntil: number;
}

export function freshEjection(): EjectionState {
  return { failures: 0, successesAtLastFailure: 0, ejections: 0, successesAtReadmission: 0, ejectedUntil: 0 };
}

/**
 * Record one failure. `successes` is the server's total of sessions that ended well, so any growth
 * since the previous failure means the failures were not consecutive. Returns the ejection length in
 * ms when this failure ejects the server, else 0.
 */
export function recordFailure(s: EjectionState, successes: number, now: number, threshold: number, ejectForMs: number): number {
  if (threshold <= 0 || now < s.ejectedUntil) return 0;
  if (successes > s.successesAtLastFailure) s.failures = 0;
  s.successesAtLastFailure = successes;
  s.failures++;
  if (s.failures < threshold) return 0;
  if (successes > s.successesAtReadmission) s.ejections = 0; // it served well since it came back
  s.ejections++;
  s.failures = 0;
  const length = Math.min(MAX_EJECTION_MS, ejectForMs * 2 ** Math.min(s.ejections - 1, 20));
  s.ejectedUntil = now + length;
  return length;
}

/** The ejection is over: the server is tried again by real traffic. */
export function readmit(s: EjectionState, successes: number): void {
  s.ejectedUntil = 0;
  s.failures = 0;
  s.successesAtReadmission = successes;
  s.successesAtLastFailure = successes;
}
