// The top talkers of every listener, all Workers together: each Worker's latest post, merged when asked.
import { TopTalkers, type ListenerTalkers, type TalkerRow } from "../telemetry/top-talkers.ts";

/** One row as shown: the merged estimates, and the client's open sessions in every Worker. */
export interface ClientRow extends TalkerRow {
  current: number;
}

export class TalkersBoard {
  /** By Worker: its last post, by listener name. */
  readonly #posts = new Map<number, Map<string, ListenerTalkers>>();

  post(worker: number, listeners: readonly ListenerTalkers[]): void {
    this.#posts.set(worker, new Map(listeners.map((l) => [l.listener, l])));
  }

  /** A Worker exited: what it held is gone with its sessions (its replacement starts anew). */
  forget(worker: number): void {
    this.#posts.delete(worker);
  }

  /** The top `n` clients of `listener` by bytes (or sessions), over every Worker. */
  top(listener: string, n: number, by: "bytes" | "sessions" = "bytes"): ClientRow[] {
    const posts = [...this.#posts.values()].flatMap((m) => m.get(listener) ?? []);
    if (posts.length === 0) return [];
    const merged = TopTalkers.merge(posts.map((p) => p.summary));
    return merged.top(n, by).map((row) => ({ ...row, current: posts.reduce((sum, p) => sum + (p.current[row.client] ?? 0), 0) }));
  }
}
