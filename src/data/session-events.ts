// Ended sessions for a program's on("session"), per Worker: gathered only while the main thread says
// someone listens, and posted as one message per tick at most (never per session, never per chunk).
import type { SessionRecord } from "../telemetry/session-record.ts";

/** A burst of ends is posted in parts of this many, so one message stays small. */
const MAX_BATCH = 1024;

export class SessionEvents {
  /** Read by the plane at accept and finish: false costs one branch and nothing else. */
  on = false;
  #batch: SessionRecord[] = [];
  readonly #post: ((records: SessionRecord[]) => void) | null;

  constructor(post: ((records: SessionRecord[]) => void) | null) {
    this.#post = post;
  }

  /** The main thread's word: a listener was registered, or the last one went. What ended before is still posted. */
  set(on: boolean): void {
    if (!on) this.flush();
    this.on = on && this.#post !== null;
  }

  push(record: SessionRecord): void {
    this.#batch.push(record);
    if (this.#batch.length >= MAX_BATCH) this.flush();
  }

  /** Post what gathered (each tick, and before the Worker exits). */
  flush(): void {
    if (this.#batch.length === 0 || this.#post === null) return;
    const batch = this.#batch;
    this.#batch = [];
    this.#post(batch);
  }
}
