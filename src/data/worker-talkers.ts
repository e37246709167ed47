// A Worker's top talkers: per listener, its heaviest clients over the last minutes, posted to the main thread.
//
// Bytes are not counted per chunk (the relay stays as it is): the plane's tick adds what each
// session moved since the last sample, and a session's end adds the rest, so a long bulk
// transfer shows while it runs. Summaries halve every minute: what is shown is mostly the last
// few minutes (a minute ago weighs half, two minutes ago a quarter).
import { DEFAULT_TALKERS_CAPACITY, TopTalkers, type ListenerTalkers } from "../telemetry/top-talkers.ts";

export type { ListenerTalkers };

/** How often the summaries forget half of what they hold. */
export const TALKERS_HALF_LIFE_MS = 60_000;
/** How often a Worker posts its summaries (and samples its sessions' bytes). */
export const TALKERS_POST_EVERY_MS = 2_000;
/** Per listener, the clients whose open sessions are counted in a post: all those in its summary. */
const CURRENT_FOR = DEFAULT_TALKERS_CAPACITY;

/** What a session shows the talkers: who, and how much it moved so far. */
export interface TalkingSession {
  readonly clientAddress: string;
  readonly listener: { readonly name: string };
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Bytes already added to the talkers. */
  talked: number;
}

export class WorkerTalkers {
  readonly #byListener = new Map<string, TopTalkers>();
  #decayedAt: number;
  #postedAt: number;

  constructor(now: number) {
    this.#decayedAt = now;
    this.#postedAt = now;
  }

  /** A session began (its client is known: after any PROXY header). */
  began(s: TalkingSession): void {
    this.#of(s.listener.name).session(s.clientAddress);
  }

  /** The session ended: what it moved since the last sample. */
  ended(s: TalkingSession): void {
    this.#sample(s);
  }

  /**
   * From the plane's tick: every TALKERS_POST_EVERY_MS, sample open sessions and return what to
   * post (null otherwise). Listeners no longer in `listeners` (the config's) are forgotten.
   */
  tick(now: number, sessions: Iterable<TalkingSession>, listeners: readonly { readonly name: string }[]): ListenerTalkers[] | null {
    if (now - this.#postedAt < TALKERS_POST_EVERY_MS) return null;
    this.#postedAt = now;
    const open = new Map<string, Map<string, number>>();
    for (const s of sessions) {
      this.#sample(s);
      const counts = open.get(s.listener.name) ?? open.set(s.listener.name, new Map()).get(s.listener.name)!;
      counts.set(s.clientAddress, (counts.get(s.clientAddress) ?? 0) + 1);
    }
    for (; now - this.#decayedAt >= TALKERS_HALF_LIFE_MS; this.#decayedAt += TALKERS_HALF_LIFE_MS) {
      for (const t of this.#byListener.values()) t.decay(0.5);
    }
    const keep = new Set(listeners.map((l) => l.name));
    for (const name of this.#byListener.keys()) if (!keep.has(name)) this.#byListener.delete(name);
    return [...this.#byListener].map(([listener, t]) => {
      const counts = open.get(listener);
      const current: Record<string, number> = {};
      if (counts) for (const row of t.top(CURRENT_FOR, "bytes")) current[row.client] = counts.get(row.client) ?? 0;
      return { listener, summary: t.snapshot(), current };
    });
  }

  #sample(s: TalkingSession): void {
    const moved = s.bytesIn + s.bytesOut;
    if (moved === s.talked) return;
    this.#of(s.listener.name).bytes(s.clientAddress, moved - s.talked);
    s.talked = moved;
  }

  #of(listener: string): TopTalkers {
    let t = this.#byListener.get(listener);
    if (!t) this.#byListener.set(listener, (t = new TopTalkers()));
    return t;
  }
}
