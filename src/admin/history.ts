// The last minutes of the status page's charts, sampled on the main thread, so a page opened now
// draws the past ten minutes at once instead of starting empty. Fixed memory: one ring per series.
import type { StatusSource } from "./source.ts";
import { L, S } from "../shared/layout.ts";

/** One sample a second, as the page polls; ten minutes of them. */
export const HISTORY_PERIOD_MS = 1000;
export const HISTORY_SAMPLES = 600;

/** A series' values, oldest first, aligned with `times`; null where there is no value (before it existed, a counter reset). */
type Values = (number | null)[];

/** What `/metrics.json?history` adds under `history`. */
export interface HistoryView {
  period_ms: number;
  /** Unix milliseconds of each sample, oldest first. */
  times: number[];
  listeners: Record<string, { connections_per_second: Values; bytes_received_per_second: Values; bytes_sent_per_second: Values; connections_active: Values }>;
  /** By upstream, then server name. */
  servers: Record<string, Record<string, { connections_per_second: Values; connections_active: Values }>>;
}

/** A ring of Float32 values (NaN: none): enough precision for rates and gauges, half the memory of Float64. */
class Ring {
  readonly values: Float32Array;
  constructor(capacity: number) {
    this.values = new Float32Array(capacity).fill(Number.NaN);
  }
}

/** The counters a rate is taken from, and the gauges kept as they are, of one listener or server. */
interface Tracked {
  rings: Ring[];
  /** The totals at the previous sample (NaN: none yet). */
  last: Float64Array;
  seen: number;
}

const LISTENER_TOTALS = [L.connections, L.bytesReceived, L.bytesSent] as const;

export class StatusHistory {
  readonly #times: Float64Array;
  /** Samples taken so far; the next is written at `#count % capacity`. */
  #count = 0;
  #tick: ReturnType<typeof setInterval> | null = null;
  readonly #listeners = new Map<string, Tracked>();
  readonly #servers = new Map<string, Tracked>();

  constructor(readonly capacity = HISTORY_SAMPLES, readonly periodMs = HISTORY_PERIOD_MS) {
    if (!(Number.isInteger(capacity) && capacity >= 2)) throw new Error(`history: capacity must be an integer of at least 2, got ${capacity}`);
    this.#times = new Float64Array(capacity);
  }

  /** Sample every `periodMs` until `stop`; the timer does not keep the process alive. */
  start(source: StatusSource): void {
    this.stop();
    this.sample(source);
    this.#tick = setInterval(() => this.sample(source), this.periodMs);
    this.#tick.unref();
  }

  stop(): void {
    if (this.#tick) clearInterval(this.#tick);
    this.#tick = null;
  }

  /** Take one sample of every listener and server of the running config (a reload's new names start empty). */
  sample(source: StatusSource, now = Date.now()): void {
    const { config, reader } = source;
    const at = this.#count % this.capacity;
    const elapsed = this.#count > 0 ? (now - this.#times[(this.#count - 1) % this.capacity]!) / 1000 : 0;
    this.#times[at] = now;
    const keepL = new Set<string>();
    config.listeners.forEach((l, i) => {
      keepL.add(l.name);
      const t = this.#track(this.#listeners, l.name, 4, 3);
      LISTENER_TOTALS.forEach((field, k) => (t.rings[k]!.values[at] = rate(t, k, reader.listener(i, field), elapsed)));
      t.rings[3]!.values[at] = reader.listener(i, L.active);
    });
    const keepS = new Set<string>();
    config.upstreams.forEach((u, ui) => u.servers.forEach((s, si) => {
      const key = u.name + "\n" + s.name;
      keepS.add(key);
      const t = this.#track(this.#servers, key, 2, 1);
      t.rings[0]!.values[at] = rate(t, 0, reader.server(ui, si, S.connections), elapsed);
      t.rings[1]!.values[at] = reader.server(ui, si, S.active);
    }));
    // Names gone from the config: their rings go (a name that comes back starts again).
    for (const key of this.#listeners.keys()) if (!keepL.has(key)) this.#listeners.delete(key);
    for (const key of this.#servers.keys()) if (!keepS.has(key)) this.#servers.delete(key);
    this.#count++;
  }

  #track(map: Map<string, Tracked>, key: string, rings: number, totals: number): Tracked {
    let t = map.get(key);
    if (!t) {
      t = { rings: Array.from({ length: rings }, () => new Ring(this.capacity)), last: new Float64Array(totals).fill(Number.NaN), seen: this.#count };
      map.set(key, t);
    }
    return t;
  }

  /** The samples held, oldest first. */
  view(): HistoryView {
    const n = Math.min(this.#count, this.capacity);
    const first = this.#count - n;
    const order = Array.from({ length: n }, (_, i) => (first + i) % this.capacity);
    // A series started after `first` has nothing before it: those slots hold another lap's values.
    const read = (t: Tracked, k: number): Values => order.map((slot, i) => {
      if (first + i < t.seen) return null;
      const v = t.rings[k]!.values[slot]!;
      return Number.isNaN(v) ? null : v;
    });
    return {
      period_ms: this.periodMs,
      times: order.map((slot) => this.#times[slot]!),
      listeners: Object.fromEntries([...this.#listeners].map(([name, t]) => [name, {
        connections_per_second: read(t, 0), bytes_received_per_second: read(t, 1), bytes_sent_per_second: read(t, 2), connections_active: read(t, 3),
      }])),
      servers: [...this.#servers].reduce<HistoryView["servers"]>((out, [key, t]) => {
        const [upstream, server] = key.split("\n") as [string, string];
        (out[upstream] ??= {})[server] = { connections_per_second: read(t, 0), connections_active: read(t, 1) };
        return out;
      }, {}),
    };
  }
}

/** Per second since the previous sample; NaN for the first sample and when the total went back (a restart). */
function rate(t: Tracked, k: number, total: number, elapsed: number): number {
  const before = t.last[k]!;
  t.last[k] = total;
  if (Number.isNaN(before) || !(elapsed > 0) || total < before) return Number.NaN;
  return (total - before) / elapsed;
}
