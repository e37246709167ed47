// Active-check hysteresis: a server goes down after `fall` failures in a row and up after `rise` successes.

export interface Hysteresis {
  readonly healthy: boolean;
  /** Results in a row that disagree with `healthy` (successes while down, failures while up). */
  readonly streak: number;
}

export const START_HEALTHY: Hysteresis = { healthy: true, streak: 0 };

/** The next state after one check result; `changed` says whether `healthy` flipped. */
export function record(state: Hysteresis, ok: boolean, rise: number, fall: number): { state: Hysteresis; changed: boolean } {
  if (ok === state.healthy) return { state: { healthy: state.healthy, streak: 0 }, changed: false };
  const streak = state.streak + 1;
  if (streak >= (state.healthy ? fall : rise)) return { state: { healthy: !state.healthy, streak: 0 }, changed: true };
  return { state: { healthy: state.healthy, streak }, changed: false };
}
