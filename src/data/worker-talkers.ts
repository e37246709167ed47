// A Worker's top talkers: per listener, its heaviest clients over the last minutes, posted to the main thread.
//
// Bytes are not counted per chunk (the relay stays as it is): the plane's tick adds what each
// session moved since the last sample, and a session's end adds the rest, so a long bulk
// transfer shows while it runs. Summaries halve every minute: what is shown is mostly the last
// few minutes (a minute ago weighs half, two minutes ago a quarter).
import { TopTalkers, type ListenerTalkers } from "../telemetry/top-talkers.ts";

export type { ListenerTalkers };

/** How often the summaries forget half of what they hold. */
export const TALKERS_HALF_LIFE_MS = 60_000;
/** A Worker posts its summaries at most this often, once a round over its open sessions is done. */
export const TALKERS_POST_EVERY_MS = 2_000;
/**
 * Open sessions are sampled a slice per tick, a round in about this many ticks (2 s at 100 ms a
 * tick), so a Worker holding a million sessions never stops its data path for a whole walk.
 */
const SLICES = 20;

/** What a session shows the talkers: who, and how much it moved so far. */
export interface TalkingSession {
  readonly clientAddress: string;
  readonly listener: { readonly name: string };
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Bytes already added to the talkers; -1 until the session began (its client is not known yet). */
  talked: number;
}

export class WorkerTalkers {
  readonly #byListener = new Map<string, TopTalkers>();
  #decayedAt: number;
  #postedAt: number;
  /** The round over open sessions in progress, and the open sessions it found per listener of the clients the summaries hold. */
  #round: Iterator<TalkingSession> | null = null;
  #open = new Map<string, Record<string, number>>();

  constructor(now: number) {
    this.#decayedAt = now;
    this.#postedAt = now;
  }

  /** A session began (its client is known: after any PROXY header). */
  began(s: TalkingSession): void {
    s.talked = 0;
    this.#of(s.listener.name).session(s.clientAddress);
  }

  /** The session ended: what it moved since the last sample. */
  ended(s: TalkingSession): void {
    this.#sample(s);
  }

  /**
   * From the plane's tick: sample the next slice of open sessions; at the end of a round (and at
   * most every TALKERS_POST_EVERY_MS) return what to post, else null. Listeners no longer in
   * `listeners` (the config's) are forgotten then.
   */
  tick(now: number, sessions: Set<TalkingSession>, listeners: readonly { readonly name: string }[]): ListenerTalkers[] | null {
    if (this.#round === null) {
      if (now - this.#postedAt < TALKERS_POST_EVERY_MS) return null;
      this.#round = sessions.values(); // a live iterator: sessions that end are skipped, new ones are visited
      this.#open = new Map();
    }
    for (let budget = Math.ceil(sessions.size / SLICES) + 1; budget > 0; budget--) {
      const next = this.#round.next();
      if (next.done) return this.#post(now, listeners);
      const s = next.value;
      if (s.talked < 0) continue;
      this.#sample(s);
      const t = this.#byListener.get(s.listener.name);
      if (!t?.has(s.clientAddress)) continue;
      const counts = this.#open.get(s.listener.name) ?? this.#open.set(s.listener.name, {}).get(s.listener.name)!;
      counts[s.clientAddress] = (counts[s.clientAddress] ?? 0) + 1;
    }
    return null;
  }

  #post(now: number, listeners: readonly { readonly name: string }[]): ListenerTalkers[] {
    this.#round = null;
    this.#postedAt = now;
    for (; now - this.#decayedAt >= TALKERS_HALF_LIFE_MS; this.#decayedAt += TALKERS_HALF_LIFE_MS) {
      for (const t of this.#byListener.values()) t.decay(0.5);
    }
    const keep = new Set(listeners.map((l) => l.name));
    for (const name of this.#byListener.keys()) if (!keep.has(name)) this.#byListener.delete(name);
    return [...this.#byListener].map(([listener, t]) => ({ listener, summary: t.snapshot(), current: this.#open.get(listener) ?? {} }));
  }

  #sample(s: TalkingSession): void {
    if (s.talked < 0) return;
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
