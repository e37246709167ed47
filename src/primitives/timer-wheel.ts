// One timer per Worker: a hashed wheel of intrusive lists that fires connect and idle deadlines.
// Bun's socket.timeout() fires once, ignores traffic and has ~4 s granularity, so aegis keeps its own.

export interface TimerEntry {
  /** Absolute time (ms, the wheel's clock) at which `onDeadline` runs. */
  deadline: number;
  onDeadline(now: number): void;
  /** Intrusive links, owned by the wheel. */
  timerPrev: TimerEntry | null;
  timerNext: TimerEntry | null;
  timerSlot: number;
}

/** The `timerSlot` of an entry that is in no slot: not scheduled, or already fired or cancelled. */
export const UNSCHEDULED = -1;

export class TimerWheel {
  readonly #slots: (TimerEntry | null)[];
  readonly #mask: number;
  /** The slot index (absolute tick count) processed last. */
  #cursor: number;
  size = 0;

  /** @param tickMs granularity; @param slotCount power of two; deadlines beyond one turn take extra turns. */
  constructor(readonly tickMs: number, now: number, slotCount = 1024) {
    this.#slots = new Array(slotCount).fill(null);
    this.#mask = slotCount - 1;
    this.#cursor = Math.floor(now / tickMs);
  }

  schedule(entry: TimerEntry, deadline: number): void {
    if (entry.timerSlot !== UNSCHEDULED) this.cancel(entry);
    entry.deadline = deadline;
    // Never place an entry behind the cursor: it would wait a whole extra turn.
    const tick = Math.max(Math.ceil(deadline / this.tickMs), this.#cursor + 1);
    const slot = tick & this.#mask;
    const head = this.#slots[slot] ?? null;
    entry.timerPrev = null;
    entry.timerNext = head;
    if (head) head.timerPrev = entry;
    this.#slots[slot] = entry;
    entry.timerSlot = slot;
    this.size++;
  }

  cancel(entry: TimerEntry): void {
    if (entry.timerSlot === UNSCHEDULED) return;
    if (entry.timerPrev) entry.timerPrev.timerNext = entry.timerNext;
    else this.#slots[entry.timerSlot] = entry.timerNext;
    if (entry.timerNext) entry.timerNext.timerPrev = entry.timerPrev;
    entry.timerPrev = entry.timerNext = null;
    entry.timerSlot = UNSCHEDULED;
    this.size--;
  }

  /** Fire every entry whose deadline is at or before `now`. */
  advance(now: number): void {
    const target = Math.floor(now / this.tickMs);
    // After a long stall, one full turn visits every slot; more would revisit them.
    const from = Math.max(this.#cursor + 1, target - this.#mask);
    for (let tick = from; tick <= target; tick++) {
      const slot = tick & this.#mask;
      let entry = this.#slots[slot] ?? null;
      while (entry) {
        let next = entry.timerNext;
        if (entry.deadline <= now) {
          this.cancel(entry);
          entry.onDeadline(now);
          // A callback that cancelled its neighbour would leave `next` dangling: rescan the slot.
          if (next && next.timerSlot !== slot) next = this.#slots[slot] ?? null;
        }
        entry = next;
      }
    }
    this.#cursor = Math.max(this.#cursor, target);
  }
}
