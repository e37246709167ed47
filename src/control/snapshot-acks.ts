// Which server snapshot each Worker has applied: sequence numbers sent, acknowledgements received,
// and the wait "every live Worker applied everything sent so far" that the admin API answers after.

/** Whether every live Worker applied the snapshots sent so far; `missing` names those that did not answer in time. */
export type AppliedResult = { ok: true; seq: number } | { ok: false; seq: number; missing: number[] };

/** A Worker's place as the acknowledgements see it (the Supervisor's slot). */
export interface AckingSlot {
  /** Null once the Worker has exited: nobody waits for it. */
  readonly worker: object | null;
  readonly listening: boolean;
  /** The highest sequence number it applied (-1: not started yet). */
  applied: number;
}

export class SnapshotAcks {
  #sent = 0;
  readonly #waiters = new Set<() => void>();

  constructor(readonly slots: () => readonly AckingSlot[]) {}

  /** The sequence number of the last snapshot sent. */
  get sent(): number {
    return this.#sent;
  }

  /** The number for a snapshot about to be sent. */
  next(): number {
    return ++this.#sent;
  }

  /** `slot` applied every snapshot up to `seq` (messages reach a Worker in order). */
  applied(slot: AckingSlot, seq: number): void {
    if (seq > slot.applied) slot.applied = seq;
    this.changed();
  }

  /** A Worker came or went: waits that were only missing it may be over. */
  changed(): void {
    for (const check of [...this.#waiters]) check();
  }

  /** What each running Worker applied, for /metrics (null: no Worker running in that place). */
  view(): { sent: number; applied: (number | null)[] } {
    return { sent: this.#sent, applied: this.slots().map((s) => (s.worker && s.listening ? s.applied : null)) };
  }

  /**
   * Resolves once every live Worker has applied every snapshot sent so far, or after `timeoutMs`
   * naming those that did not. A Worker that exits meanwhile is not waited for: its replacement
   * starts from the newest snapshot.
   */
  untilApplied(timeoutMs: number): Promise<AppliedResult> {
    const seq = this.#sent;
    const missing = () => this.slots().flatMap((s, i) => (s.worker !== null && s.applied < seq ? [i] : []));
    if (missing().length === 0) return Promise.resolve({ ok: true, seq });
    return new Promise((resolve) => {
      const finish = (result: AppliedResult) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve(result);
      };
      const check = () => {
        if (missing().length === 0) finish({ ok: true, seq });
      };
      const timer = setTimeout(() => finish({ ok: false, seq, missing: missing() }), timeoutMs);
      this.#waiters.add(check);
    });
  }
}
