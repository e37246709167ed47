// The one interface every selection algorithm implements: pure, given a snapshot and a context.

/** What a balancer may know of a server: a snapshot swapped in whole, never mutated in place. */
export interface ServerView {
  readonly weight: number;
  /** False when the server must not be picked (down, draining, disabled). */
  readonly available: boolean;
}

/** Per-pick facts about the connection being placed. */
export interface PickContext {
  readonly clientAddress: string;
  /** Servers already tried for this connection (a retry must go elsewhere). */
  readonly exclude: readonly number[];
}

export interface Balancer {
  /** Index of the chosen server, or -1 when none is eligible. */
  pick(ctx: PickContext): number;
  /** A connection to `server` was established (least-connection algorithms count these). */
  onOpen(server: number): void;
  /** A connection to `server` ended. */
  onClose(server: number): void;
}

/** Source of randomness in [0, 1): injected so algorithms stay deterministic under test. */
export type Random = () => number;

export type BalancerFactory = (servers: readonly ServerView[], random: Random) => Balancer;

export const NO_EXCLUSIONS: readonly number[] = Object.freeze([]);
