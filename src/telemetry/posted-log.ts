// A Worker's log records for a program's logger function: handed to the main thread by postMessage,
// one message per event-loop turn, since a program (not stdout) is where they go.
import type { Fields, LogSink } from "./log.ts";

/** Past this many records not yet posted, new ones are dropped rather than grow memory. */
const MAX_PENDING = 10_000;

export class PostedLog {
  #pending: Fields[] = [];
  #scheduled = false;
  /** Records lost to a burst past MAX_PENDING. */
  dropped = 0;
  readonly #post: (records: Fields[]) => void;

  constructor(post: (records: Fields[]) => void) {
    this.#post = post;
  }

  readonly sink: LogSink = (record) => {
    if (this.#pending.length >= MAX_PENDING) {
      this.dropped++;
      return;
    }
    this.#pending.push(record);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setTimeout(() => this.flush(), 0);
    }
  };

  /** Post everything gathered; also called just before the Worker exits. */
  flush(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0) return;
    const records = this.#pending;
    this.#pending = [];
    this.#post(records);
  }
}
