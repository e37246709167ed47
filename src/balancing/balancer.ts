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
  /** A new snapshot of the same servers in the same order (health or admin state changed). */
  update(servers: readonly ServerView[]): void;
  /**
   * Optional: a session took a place on `server` at assignment, before its connect. Algorithms
   * that count load (least_conn, p2c, p2c_ewma) count it from here, exactly as the server limits
   * do, so a burst of connects in flight is spread instead of all landing on one idle server.
   */
  onTake?(server: number): void;
  /** Optional: that place was given back (the connect failed, or the session left the server). */
  onDrop?(server: number): void;
  /**
   * Optional: a latency sample for `server`, in ms, of one kind: a connect's duration, or the time
   * from a session's first client bytes to the server's first reply.
   */
  onLatency?(server: number, kind: LatencyKind, ms: number, now: number): void;
}

/** What an algorithm reads beyond availability, so the config check can warn where it cannot work ("max_connections": a hard or soft limit). */
export type Need = "client_address" | "weights" | "max_connections";

/** One selection algorithm: how to build it, and what it needs to do its job. */
export interface Algorithm {
  readonly build: BalancerFactory;
  readonly needs: readonly Need[];
}

/** The kinds of latency sample: numbers, so reporting one allocates nothing. */
export const Latency = { connect: 0, reply: 1 } as const;
export type LatencyKind = (typeof Latency)[keyof typeof Latency];

/** Source of randomness in [0, 1): injected so algorithms stay deterministic under test. */
export type Random = () => number;

export type BalancerFactory = (servers: readonly ServerView[], random: Random) => Balancer;

export const NO_EXCLUSIONS: readonly number[] = Object.freeze([]);
