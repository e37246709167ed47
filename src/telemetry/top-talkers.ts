// Top talkers of one listener: its heaviest clients by bytes and by sessions, each a bounded space-saving summary.
//
// A Worker keeps one TopTalkers per listener and posts snapshots; the main thread merges them and
// shows the top rows. The two summaries share nothing, so each keeps its own bound: a client can be
// in one and not the other (many sessions moving little, or one session moving a lot).
import { SpaceSaving, type SpaceSavingSnapshot } from "./space-saving.ts";

export { SpaceSaving, type SpaceSavingEntry, type SpaceSavingSnapshot } from "./space-saving.ts";

/** Enough to list the top 10 with room for the bound: a client is sure to be listed above 1/128 of the traffic. */
export const DEFAULT_TALKERS_CAPACITY = 128;

export interface TalkersSnapshot {
  bytes: SpaceSavingSnapshot;
  sessions: SpaceSavingSnapshot;
}

/**
 * One client's estimates. Where the client is in a summary, its true value lies in
 * [value - error, value]. Where it is not, the value is 0 and the true value lies in [0, error]:
 * error is then that summary's bound (0 when the summary never dropped anyone, so 0 is exact).
 */
export interface TalkerRow {
  client: string;
  bytes: number;
  bytesError: number;
  sessions: number;
  sessionsError: number;
}

export class TopTalkers {
  #bytes: SpaceSaving;
  #sessions: SpaceSaving;

  constructor(capacity: number = DEFAULT_TALKERS_CAPACITY) {
    this.#bytes = new SpaceSaving(capacity);
    this.#sessions = new SpaceSaving(capacity);
  }

  static #of(bytes: SpaceSaving, sessions: SpaceSaving): TopTalkers {
    const talkers = new TopTalkers(1);
    talkers.#bytes = bytes;
    talkers.#sessions = sessions;
    return talkers;
  }

  /** A session from `client` began. */
  session(client: string): void {
    this.#sessions.add(client, 1);
  }

  /** `bytes` more moved for `client`, both directions counted. */
  bytes(client: string, bytes: number): void {
    this.#bytes.add(client, bytes);
  }

  /** Whether either summary holds `client` (two map lookups, no allocation). */
  has(client: string): boolean {
    return this.#bytes.has(client) || this.#sessions.has(client);
  }

  decay(factor: number): void {
    this.#bytes.decay(factor);
    this.#sessions.decay(factor);
  }

  /** Total bytes and sessions seen (decayed alike): what the error bounds are fractions of. */
  get totals(): { bytes: number; sessions: number } {
    return { bytes: this.#bytes.total, sessions: this.#sessions.total };
  }

  snapshot(): TalkersSnapshot {
    return { bytes: this.#bytes.snapshot(), sessions: this.#sessions.snapshot() };
  }

  static fromSnapshot(snapshot: TalkersSnapshot): TopTalkers {
    checkShape(snapshot);
    return TopTalkers.#of(SpaceSaving.fromSnapshot(snapshot.bytes), SpaceSaving.fromSnapshot(snapshot.sessions));
  }

  /** Both summaries merged by SpaceSaving.merge, so each keeps its bound over the union of the Workers' streams. */
  static merge(snapshots: readonly TalkersSnapshot[], capacity: number = DEFAULT_TALKERS_CAPACITY): TopTalkers {
    snapshots.forEach(checkShape);
    return TopTalkers.#of(
      SpaceSaving.merge(snapshots.map((s) => s.bytes), capacity),
      SpaceSaving.merge(snapshots.map((s) => s.sessions), capacity),
    );
  }

  /** The `n` heaviest clients by bytes or by sessions, heaviest first, each with both estimates. */
  top(n: number, by: "bytes" | "sessions"): TalkerRow[] {
    if (by !== "bytes" && by !== "sessions") throw new TypeError(`top talkers rank by "bytes" or "sessions", not ${JSON.stringify(by)}`);
    const [ranked, other] = by === "bytes" ? [this.#bytes, this.#sessions] : [this.#sessions, this.#bytes];
    const otherBound = other.bound;
    return ranked.top(n).map(({ key, count, error }) => {
      const theirs = other.estimate(key) ?? { count: 0, error: otherBound };
      return by === "bytes"
        ? { client: key, bytes: count, bytesError: error, sessions: theirs.count, sessionsError: theirs.error }
        : { client: key, bytes: theirs.count, bytesError: theirs.error, sessions: count, sessionsError: error };
    });
  }
}

function checkShape(snapshot: TalkersSnapshot): void {
  if (typeof snapshot !== "object" || snapshot === null || !snapshot.bytes || !snapshot.sessions) {
    throw new TypeError("bad top-talkers snapshot: need { bytes, sessions } summaries");
  }
}

/** One listener's summaries as a Worker posts them to the main thread, with its open sessions per client. */
export interface ListenerTalkers {
  listener: string;
  summary: TalkersSnapshot;
  /** Open sessions in this Worker of the clients in its summary. */
  current: Record<string, number>;
}
