// Latency-aware power of two choices: the lower EWMA latency x load wins (Finagle, Linkerd).
import { Latency, type BalancerFactory, type LatencyKind, type ServerView } from "./balancer.ts";
import { PowerOfTwoChoices } from "./p2c.ts";

/** A sample moves the estimate this far toward itself. */
export const EWMA_ALPHA = 0.3;
/** Without samples, an estimate's distance from the neutral value halves every this many ms. */
export const EWMA_HALF_LIFE_MS = 5_000;
/** Samples are clamped up to this, so a zero latency cannot make a server's cost zero whatever its load. */
const MIN_SAMPLE_MS = 0.01;

/**
 * Contract: two distinct servers drawn by weight (as p2c); the one with the lower
 * (connect estimate + reply estimate)(now) x (1 + active/weight) wins, the first drawn on a tie.
 * With weight 1 and no reply samples that is the classic EWMA x (active + 1).
 *
 * Connect time and reply time (a session's first client bytes to the server's first answer) are
 * two estimates: a slow server accepts connections as fast as the others, and in one average its
 * quick connect samples (which arrive first, several while its slow replies are still on their
 * way) would pull it down just when it is being picked. Each kind's neutral value is the lowest
 * estimate any server has of it: a server without samples scores that, and a server that stops
 * being picked (because it was slow) decays toward it with a half-life, so it is tried again and
 * a recovered server wins its share back. Only ctx.now and the `now` given with each sample are
 * used as clocks.
 */
export const p2cEwma: BalancerFactory = (servers, rng) => new LatencyAware(servers, rng);

class LatencyAware extends PowerOfTwoChoices {
  // Before any connect sample every server costs 1 x load (plain p2c); reply time adds nothing
  // until some server has given one.
  readonly #connect: DecayingEwma;
  readonly #reply: DecayingEwma;

  constructor(servers: readonly ServerView[], rng: () => number) {
    super(servers, rng);
    this.#connect = new DecayingEwma(servers.length, 1);
    this.#reply = new DecayingEwma(servers.length, 0);
  }

  protected override beginCosts(): void {
    this.#connect.refreshNeutral();
    this.#reply.refreshNeutral();
  }

  protected override cost(server: number, now: number): number {
    const latency = this.#connect.at(server, now) + this.#reply.at(server, now);
    return latency * (1 + this.active.of(server) / this.servers[server]!.weight);
  }

  onLatency(server: number, kind: LatencyKind, ms: number, now: number): void {
    (kind === Latency.reply ? this.#reply : this.#connect).sample(server, ms, now);
  }
}

/** One EWMA per server that decays toward the best server's value while it gets no samples. */
class DecayingEwma {
  readonly #estimate: Float64Array;
  readonly #stamp: Float64Array;
  readonly #sampled: Uint8Array;
  readonly #unsampledNeutral: number;
  #neutral: number;

  constructor(servers: number, unsampledNeutral: number) {
    this.#estimate = new Float64Array(servers);
    this.#stamp = new Float64Array(servers);
    this.#sampled = new Uint8Array(servers);
    this.#unsampledNeutral = unsampledNeutral;
    this.#neutral = unsampledNeutral;
  }

  sample(server: number, ms: number, now: number): void {
    if (!(server >= 0 && server < this.#estimate.length) || !Number.isFinite(ms) || !Number.isFinite(now)) return;
    const value = Math.max(ms, MIN_SAMPLE_MS);
    if (this.#sampled[server]) {
      this.refreshNeutral();
      const current = this.at(server, now);
      this.#estimate[server] = current + (value - current) * EWMA_ALPHA;
    } else {
      this.#estimate[server] = value;
      this.#sampled[server] = 1;
    }
    this.#stamp[server] = now;
  }

  /** The estimate decayed toward the neutral value for the time since its last sample. */
  at(server: number, now: number): number {
    if (!this.#sampled[server]) return this.#neutral;
    const age = Math.max(0, now - this.#stamp[server]!);
    return this.#neutral + (this.#estimate[server]! - this.#neutral) * 2 ** (-age / EWMA_HALF_LIFE_MS);
  }

  /** The neutral value: the lowest stored estimate, or the unsampled value when there is none. */
  refreshNeutral(): void {
    let lowest = Infinity;
    for (let i = 0; i < this.#estimate.length; i++) if (this.#sampled[i] && this.#estimate[i]! < lowest) lowest = this.#estimate[i]!;
    this.#neutral = lowest === Infinity ? this.#unsampledNeutral : lowest;
  }
}
