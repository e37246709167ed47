// Latency-aware power of two choices: the lower EWMA connect latency x load wins (Finagle, Linkerd).
import type { BalancerFactory, ServerView } from "./balancer.ts";
import { PowerOfTwoChoices } from "./p2c.ts";

/** A sample moves the estimate this far toward itself. */
export const EWMA_ALPHA = 0.3;
/** Without samples, an estimate's distance from the neutral value halves every this many ms. */
export const EWMA_HALF_LIFE_MS = 5_000;
/** Samples are clamped up to this, so a zero latency cannot make a server's cost zero whatever its load. */
const MIN_SAMPLE_MS = 0.01;

/**
 * Contract: two distinct servers drawn by weight (as p2c); the one with the lower
 * estimate(now) x (1 + active/weight) wins, the first drawn on a tie. With weight 1 that is the
 * classic EWMA x (active + 1).
 *
 * The neutral value is the lowest estimate any server has: a server without samples scores it,
 * and a server that stops being picked (because it was slow) decays toward it with a half-life,
 * so it is tried again and a recovered server wins its share back. Only ctx.now and the
 * `now` given with each sample are used as clocks.
 */
export const p2cEwma: BalancerFactory = (servers, rng) => new LatencyAware(servers, rng);

class LatencyAware extends PowerOfTwoChoices {
  readonly #estimate: Float64Array;
  readonly #stamp: Float64Array;
  readonly #sampled: Uint8Array;
  #neutral = 1;

  constructor(servers: readonly ServerView[], rng: () => number) {
    super(servers, rng);
    this.#estimate = new Float64Array(servers.length);
    this.#stamp = new Float64Array(servers.length);
    this.#sampled = new Uint8Array(servers.length);
  }

  protected override beginCosts(): void {
    this.#neutral = this.#lowestEstimate();
  }

  protected override cost(server: number, now: number): number {
    return this.#estimateAt(server, now) * (1 + this.active.of(server) / this.servers[server]!.weight);
  }

  override onConnectLatency(server: number, ms: number, now: number): void {
    if (!(server >= 0 && server < this.#estimate.length) || !Number.isFinite(ms) || !Number.isFinite(now)) return;
    const sample = Math.max(ms, MIN_SAMPLE_MS);
    if (this.#sampled[server]) {
      this.#neutral = this.#lowestEstimate();
      const current = this.#estimateAt(server, now);
      this.#estimate[server] = current + (sample - current) * EWMA_ALPHA;
    } else {
      this.#estimate[server] = sample;
      this.#sampled[server] = 1;
    }
    this.#stamp[server] = now;
  }

  /** The estimate decayed toward #neutral for the time since its last sample. */
  #estimateAt(server: number, now: number): number {
    if (!this.#sampled[server]) return this.#neutral;
    const age = Math.max(0, now - this.#stamp[server]!);
    return this.#neutral + (this.#estimate[server]! - this.#neutral) * 2 ** (-age / EWMA_HALF_LIFE_MS);
  }

  /** The neutral value: the lowest stored estimate, or 1 when nothing has been sampled (all equal). */
  #lowestEstimate(): number {
    let lowest = Infinity;
    for (let i = 0; i < this.#estimate.length; i++) if (this.#sampled[i] && this.#estimate[i]! < lowest) lowest = this.#estimate[i]!;
    return lowest === Infinity ? 1 : lowest;
  }
}
