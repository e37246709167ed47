// The one interface every selection algorithm implements: pure, given a snapshot and a context.

/** What a balancer may know of a server: a snapshot swapped in whole, never mutated in place. */
export interface ServerView {
  readonly weight: number;
  /** False when the server must not be picked (down, ejected, draining, disabled). */
  readonly available: boolean;
  /** A backup takes traffic only when no primary is available. */
  readonly backup: boolean;
}

/** Per-pick facts about the connection being placed. */
export interface PickContext {
  readonly clientAddress: string;
  /** Servers that must not be picked for this connection (already tried, or at their hard limit). */
  readonly exclude: readonly number[];
  /** Monotonic milliseconds, for algorithms that decay state over time. */
  readonly now: number;
  /** True when a server is at its soft limit: eligible, but to be treated as busier than the rest. */
  busy(server: number): boolean;
}

export interface Balancer {
  /** Index of the chosen server, or -1 when none is eligible. */
  pick(ctx: PickContext): number;
  /** A connection to `server` was established (least-connection algorithms count these). */
  onOpen(server: number): void;
  /** A connection to `server` ended. */
  onClose(server: number): void;
  /**
   * A latency sample for `server`, in ms, of one kind: a connect's duration, or the time from a
   * session's first client bytes to the server's first reply. Latency-aware algorithms learn from it.
   */
  onLatency(server: number, kind: LatencyKind, ms: number, now: number): void;
  /** A new snapshot of the same servers in the same order (health or admin state changed). */
  update(servers: readonly ServerView[]): void;
}

/** The kinds of latency sample: numbers, so reporting one allocates nothing. */
export const Latency = { connect: 0, reply: 1 } as const;
export type LatencyKind = (typeof Latency)[keyof typeof Latency];

/** Source of randomness in [0, 1): injected so algorithms stay deterministic under test. */
export type Random = () => number;

export type BalancerFactory = (servers: readonly ServerView[], random: Random) => Balancer;

export const NO_EXCLUSIONS: readonly number[] = Object.freeze([]);
