// The main thread's view of every server: active checks (once per process, not per Worker), passive
// ejections reported by Workers, and operator states; each change is logged and published as a snapshot.
import type { Config } from "../config/types.ts";
import type { Logger } from "../telemetry/log.ts";
import { freshEjection, readmit, recordFailure, type EjectionState } from "./ejection.ts";
import { record, START_HEALTHY, type Hysteresis } from "./hysteresis.ts";
import { compileProbe, runProbe, type Probe } from "./probe.ts";
import { takesNewConnections, type AdminState, type ServerState } from "./server-state.ts";
import { Histogram } from "../telemetry/histogram.ts";

/** Which servers of one upstream take new connections: what a Worker swaps in whole. */
export type Snapshot = boolean[];

interface ServerHealth {
  upstream: number;
  server: number;
  state: ServerState;
  admin: AdminState;
  active: Hysteresis;
  ejection: EjectionState;
  changes: number;
  checkSeconds: Histogram;
  timer: ReturnType<typeof setTimeout> | null;
}

export interface HealthEvents {
  /** A new snapshot for one upstream. */
  publish(upstream: number, snapshot: Snapshot): void;
  /** The upstream's established-connection total for a server (successes, for passive checks). */
  successes(upstream: number, server: number): number;
}

export class HealthMonitor {
  readonly #servers: ServerHealth[][];
  readonly #probes: (Probe | null)[];
  #stopped = false;

  constructor(readonly config: Config, readonly logger: Logger, readonly events: HealthEvents) {
    this.#servers = config.upstreams.map((u, ui) => u.servers.map((_, si) => ({
      upstream: ui, server: si, state: "up", admin: "ready", active: START_HEALTHY, ejection: freshEjection(),
      changes: 0, checkSeconds: new Histogram(), timer: null,
    })));
    this.#probes = config.upstreams.map((u) => (u.health ? compileProbe(u.health) : null));
  }

  /** Start active checks, spread over the first interval so they do not all fire at once. */
  start(): void {
    this.config.upstreams.forEach((u, ui) => {
      if (!u.health) return;
      const count = u.servers.length;
      this.#servers[ui]!.forEach((s, si) => this.#schedule(s, Math.floor((u.health!.intervalMs * si) / count)));
    });
  }

  stop(): void {
    this.#stopped = true;
    for (const s of this.#servers.flat()) if (s.timer) clearTimeout(s.timer);
  }

  /** After a reload: servers that stay (same upstream and server name) keep their state and history. */
  carryOver(previous: HealthMonitor): void {
    const before = new Map<string, ServerHealth>();
    previous.#servers.forEach((servers, ui) => servers.forEach((s, si) => {
      before.set(`${previous.config.upstreams[ui]!.name}\n${previous.config.upstreams[ui]!.servers[si]!.name}`, s);
    }));
    this.#servers.forEach((servers, ui) => servers.forEach((s, si) => {
      const old = before.get(`${this.config.upstreams[ui]!.name}\n${this.config.upstreams[ui]!.servers[si]!.name}`);
      if (!old) return;
      Object.assign(s, { state: old.state, admin: old.admin, active: old.active, ejection: old.ejection, changes: old.changes, checkSeconds: old.checkSeconds });
      // The old monitor's timer dies with it: end the ejection from here.
      if (old.ejection.ejectedUntil !== 0) setTimeout(() => this.#readmit(s), Math.max(0, old.ejection.ejectedUntil - performance.now()));
    }));
  }

  snapshot(upstream: number): Snapshot {
    return (this.#servers[upstream] ?? []).map((s) => takesNewConnections(s.state));
  }

  /** Every server's state, for metrics and status. */
  states(): readonly (readonly Readonly<ServerHealth>[])[] {
    return this.#servers;
  }

  /** A Worker saw a connect fail or a session reset by this server. */
  reportFailure(upstream: number, server: number): void {
    const s = this.#servers[upstream]?.[server];
    const u = this.config.upstreams[upstream];
    if (!s || !u) return;
    const length = recordFailure(s.ejection, this.events.successes(upstream, server), performance.now(), u.failThreshold, u.ejectForMs);
    if (length === 0) return;
    this.#update(s, `${u.failThreshold} connection failures in a row; ejected for ${Math.round(length / 1000)} s`);
    setTimeout(() => this.#readmit(s), length);
  }

  /** An operator's wish (admin API): draining keeps sessions but takes no new ones. */
  setAdmin(upstream: number, server: number, admin: AdminState, who: string): void {
    const s = this.#servers[upstream]?.[server];
    if (!s) return;
    s.admin = admin;
    this.#update(s, `set to ${admin} by ${who}`);
  }

  /** Idempotent: the timer and an active check may both end the same ejection. */
  #readmit(s: ServerHealth): void {
    if (this.#stopped || s.ejection.ejectedUntil === 0) return;
    readmit(s.ejection, this.events.successes(s.upstream, s.server));
    this.#update(s, "ejection over: tried again");
  }

  #schedule(s: ServerHealth, delay: number): void {
    if (this.#stopped) return;
    s.timer = setTimeout(() => void this.#check(s), delay);
  }

  async #check(s: ServerHealth): Promise<void> {
    const u = this.config.upstreams[s.upstream]!;
    const health = u.health!;
    const result = await runProbe(u.servers[s.server]!.address, this.#probes[s.upstream]!, health.timeoutMs);
    if (this.#stopped) return;
    s.checkSeconds.observe(result.ms / 1000);
    const { state, changed } = record(s.active, result.ok, health.rise, health.fall);
    s.active = state;
    if (changed) {
      this.#update(s, state.healthy
        ? `${health.rise} check(s) in a row passed`
        : `${health.fall} check(s) in a row failed, last: ${result.reason}`);
    }
    this.#schedule(s, Math.max(0, health.intervalMs - result.ms));
  }

  /** Recompute the effective state; log and publish when it changed. */
  #update(s: ServerHealth, reason: string): void {
    const next: ServerState =
      s.admin === "disabled" ? "disabled"
      : s.admin === "draining" ? "draining"
      : !s.active.healthy ? "down"
      : s.ejection.ejectedUntil !== 0 ? "ejected"
      : "up";
    if (next === s.state) return;
    const u = this.config.upstreams[s.upstream]!;
    this.logger.log(next === "up" ? "info" : "warn", "server state", {
      upstream: u.name, server: u.servers[s.server]!.name, from: s.state, to: next, reason,
    });
    s.state = next;
    s.changes++;
    this.events.publish(s.upstream, this.snapshot(s.upstream));
  }
}
