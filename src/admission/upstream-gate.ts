// Where a session meets its upstream's limits: a server with a free place, the queue, or a refusal.
import type { Balancer, PickContext } from "../balancing/balancer.ts";
import type { UpstreamConfig } from "../config/types.ts";
import type { TimerEntry, TimerWheel } from "../data/timer-wheel.ts";
import { L } from "../shared/layout.ts";
import type { QueueWaker } from "./queue-waker.ts";
import type { ServerLimits } from "./server-limits.ts";
import { UpstreamQueue } from "./upstream-queue.ts";

/** `pick` found eligible servers, but every one is at its hard limit. */
export const ALL_FULL = -2;

/** Used when a hand-built config (the demo, tests) leaves the queue out. */
export const DEFAULT_QUEUE = { size: 100, timeoutMs: 5_000 };

/** What the gate needs of a session; Session implements it. */
export interface GateClient extends PickContext, TimerEntry {
  exclude: readonly number[];
  /** True while in the queue; only the gate sets it. */
  queued: boolean;
  readonly client: { pause(): void };
  readonly listener: { readonly base: number };
  readonly plane: { readonly now: number; readonly cells: Float64Array; readonly wheel: TimerWheel };
  /** Connect to `server`, whose place the session now holds (-1: no server is eligible any more). */
  connectTo(server: number): void;
  /** Close the client as refused, counting `cell` and logging `reason`. */
  refuse(cell: number, reason: string): void;
}

export class UpstreamGate {
  readonly queue: UpstreamQueue<GateClient>;
  readonly timeoutMs: number;
  /** Which servers are backups: a backup never stands in for a primary that is only full. */
  readonly #backup: readonly boolean[];

  constructor(
    readonly balancer: Balancer,
    config: UpstreamConfig,
    readonly limits: ServerLimits,
    queueCell: number,
    readonly waker: QueueWaker,
  ) {
    const q = config.queue ?? DEFAULT_QUEUE;
    this.queue = new UpstreamQueue(limits.shared, queueCell, q.size, limits.worker);
    this.timeoutMs = q.timeoutMs;
    this.#backup = config.servers.map((s) => s.backup);
  }

  busy(server: number): boolean {
    return this.limits.any && this.limits.busy(server);
  }

  /**
   * A server for `ctx`, with a place on it now held; -1 when no server is eligible; ALL_FULL when
   * some are but all are at their hard limit, or others are already queued (a newcomer does not
   * overtake them). Full servers are excluded for this pick only, so the balancer moves on its own way.
   * Backups take over from primaries that are down, not from primaries that are full: once a
   * primary is found full, the session queues for it (as HAProxy does) rather than spill to a backup.
   */
  pick(ctx: GateClient, fromQueue = false): number {
    if (!this.limits.any) return this.balancer.pick(ctx);
    if (!fromQueue && this.queue.waitingAnywhere() > 0) return ALL_FULL;
    const tried = ctx.exclude;
    let full = false;
    let primaryFull = false;
    for (;;) {
      const server = this.balancer.pick(ctx);
      if (server >= 0 && primaryFull && this.#backup[server]) {
        ctx.exclude = tried;
        return ALL_FULL;
      }
      if (server >= 0 && !this.limits.take(server)) {
        full = true;
        if (!this.#backup[server]) primaryFull = true;
        ctx.exclude = [...ctx.exclude, server]; // allocates only when a server is full
        continue;
      }
      ctx.exclude = tried;
      return server < 0 && full ? ALL_FULL : server;
    }
  }

  /** Every eligible server is full: wait in the queue, or be refused when it is full too. */
  wait(s: GateClient): void {
    if (!this.queue.enter(s)) return s.refuse(L.rejectedQueueFull, "queue_full");
    s.queued = true;
    s.plane.cells[s.listener.base + L.queued]! += 1;
    s.client.pause(); // what it already sent stays in the session; the rest waits in the kernel
    s.plane.wheel.schedule(s, s.plane.now + this.timeoutMs);
    this.waker.watch(this);
  }

  /** `s` leaves the queue without a server (gone, timed out). Safe to call when it is not queued. */
  leave(s: GateClient): void {
    if (!this.#dequeue(s)) return;
    // Other Workers may have been waiting for this one's head: let them look again.
    if (this.limits.shared.queuedAnywhere() > this.queue.length) this.limits.shared.wake();
  }

  /** The queue timeout of `s` passed. */
  timedOut(s: GateClient): void {
    this.leave(s);
    s.refuse(L.rejectedQueueTimeout, "queue_timeout");
  }

  /** A session gives back its place on `server`: the head of this Worker's queue gets it first. */
  release(server: number): void {
    if (!this.limits.give(server)) return;
    if (this.queue.length > 0) this.pump();
    // Others wait (in other Workers, or for other upstreams): let them look for a place too.
    if (this.limits.shared.queuedAnywhere() > this.queue.length) this.limits.shared.wake();
  }

  /**
   * Serve queued sessions in arrival order while places are free and this Worker's head is the
   * oldest in the process (else another Worker's head is served first). Returns how many still wait.
   */
  pump(): number {
    for (let s = this.queue.head(); s && this.queue.headIsOldest(); s = this.queue.head()) {
      const server = this.pick(s, true);
      if (server === ALL_FULL) break;
      this.#dequeue(s);
      s.connectTo(server); // replaces the queue timeout with the connect timeout
    }
    return this.queue.length;
  }

  #dequeue(s: GateClient): boolean {
    if (!s.queued) return false;
    s.queued = false;
    s.plane.cells[s.listener.base + L.queued]! -= 1;
    this.queue.leave(s);
    return true;
  }
}
