// The main thread's view of every server: active checks (once per process, not per Worker), passive
// ejections reported by Workers, and operator states; each change is logged and published as a snapshot.
import type { Address, Config, HealthCheckConfig } from "../config/types.ts";
import type { Logger } from "../telemetry/log.ts";
import { freshEjection, readmit, recordFailure, type EjectionState } from "./ejection.ts";
import { record, START_HEALTHY, type Hysteresis } from "./hysteresis.ts";
import { compileProbe, runProbe, type Probe } from "./probe.ts";
import type { AdminState, ServerState } from "./server-state.ts";
import { Histogram } from "../telemetry/histogram.ts";
import { formatAddress } from "../config/address.ts";

/** Where a server's checks go: its own address, or its host on the health table's port. */
const checkAddress = (a: Address, h: HealthCheckConfig): Address => (h.port === undefined ? a : { host: a.host, port: h.port });

/** Each server's state in one upstream: what a Worker swaps in whole (only "up" takes new connections). */
export type Snapshot = ServerState[];

interface ServerHealth {
  upstream: number;
  server: number;
  state: ServerState;
  admin: AdminState;
  active: Hysteresis;
  ejection: EjectionState;
  changes: number;
  /** Wall-clock milliseconds of the last state change, or of the start (time in state, as HAProxy's LastChk/Chg). */
  since: number;
  checkSeconds: Histogram;
  timer: ReturnType<typeof setTimeout> | null;
  /** An operator's weight (admin API) in place of the configured one; null when none is set. */
  weight: number | null;
  /** The last active check: what was sent and came back, how long it took, why it failed. */
  last: LastCheck | null;
}

/** The last active check of a server, for /metrics.json, the API and the status page. */
export interface LastCheck {
  /** Wall-clock milliseconds. */
  at: number;
  ok: boolean;
  ms: number;
  reason: string;
  sent: string;
  reply: string;
}

/** One change of a server, as the status page and /metrics.json list it. */
export interface ServerChange {
  /** Wall-clock milliseconds. */
  time: number;
  upstream: string;
  server: string;
  what: "state" | "weight";
  from: string;
  to: string;
  reason: string;
}

export interface HealthEvents {
  /** A new snapshot for one upstream, with every server's effective weight. */
  publish(upstream: number, snapshot: Snapshot, weights: number[]): void;
  /** Sessions on a server that ended without it failing them (successes, for passive checks). A
   *  connection that opens and is then reset is no success: counting it would keep a server that
   *  resets every session from ever reaching fail_threshold. */
  successes(upstream: number, server: number): number;
}

export class HealthMonitor {
  readonly #servers: ServerHealth[][];
  readonly #probes: (Probe | null)[][];
  readonly #listeners = new Set<(change: ServerChange) => void>();
  #stopped = false;

  constructor(readonly config: Config, readonly logger: Logger, readonly events: HealthEvents) {
    this.#servers = config.upstreams.map((u, ui) => u.servers.map((_, si) => ({
      upstream: ui, server: si, state: "up", admin: "ready", active: START_HEALTHY, ejection: freshEjection(),
      changes: 0, since: Date.now(), checkSeconds: new Histogram(), timer: null, weight: null, last: null,
    })));
    // Per server: an http check names the server in its Host header. A check on another port talks to
    // another service (Patroni's API), which expects no PROXY header meant for the server's own port.
    this.#probes = config.upstreams.map((u) => u.servers.map((srv) => (u.health
      ? compileProbe(u.health, u.health.port === undefined ? u.sendProxy : undefined, formatAddress(checkAddress(srv.address, u.health)))
      : null)));
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

  /** After a reload: servers that stay (same upstream and server name) keep their state and history,
   *  and whoever follows changes keeps following. */
  carryOver(previous: HealthMonitor): void {
    for (const listener of previous.#listeners) this.#listeners.add(listener);
    const before = new Map<string, ServerHealth>();
    previous.#servers.forEach((servers, ui) => servers.forEach((s, si) => {
      before.set(`${previous.config.upstreams[ui]!.name}\n${previous.config.upstreams[ui]!.servers[si]!.name}`, s);
    }));
    this.#servers.forEach((servers, ui) => servers.forEach((s, si) => {
      const old = before.get(`${this.config.upstreams[ui]!.name}\n${this.config.upstreams[ui]!.servers[si]!.name}`);
      if (!old) return;
      Object.assign(s, { state: old.state, admin: old.admin, active: old.active, ejection: old.ejection, changes: old.changes, since: old.since, checkSeconds: old.checkSeconds, last: old.last });
      // An operator's weight stays unless the file now says something new for that server.
      const configured = (m: HealthMonitor, h: ServerHealth) => m.config.upstreams[h.upstream]!.servers[h.server]!.weight;
      if (old.weight !== null && configured(previous, old) === configured(this, s)) s.weight = old.weight;
      // The old monitor's timer dies with it: end the ejection from here.
      if (old.ejection.ejectedUntil !== 0) setTimeout(() => this.#readmit(s), Math.max(0, old.ejection.ejectedUntil - performance.now()));
    }));
  }

  snapshot(upstream: number): Snapshot {
    return (this.#servers[upstream] ?? []).map((s) => s.state);
  }

  /** Each server's weight: the operator's if set, else the configured one. */
  weights(upstream: number): number[] {
    const u = this.config.upstreams[upstream];
    return (this.#servers[upstream] ?? []).map((s, si) => s.weight ?? u!.servers[si]!.weight);
  }

  /** Call `listener` on every state or weight change; returns the unsubscribe function. */
  onChange(listener: (change: ServerChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
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

  /** An operator's weight (admin API) for new connections; logged and published like a state change. */
  setWeight(upstream: number, server: number, weight: number, who: string): void {
    const s = this.#servers[upstream]?.[server];
    const u = this.config.upstreams[upstream];
    if (!s || !u) return;
    const from = this.weights(upstream)[server]!;
    s.weight = weight === u.servers[server]!.weight ? null : weight;
    if (from === weight) return;
    const reason = `set by ${who}`;
    this.logger.info("server weight", { upstream: u.name, server: u.servers[server]!.name, from, to: weight, reason });
    this.#emit({ time: Date.now(), upstream: u.name, server: u.servers[server]!.name, what: "weight", from: String(from), to: String(weight), reason });
    this.events.publish(upstream, this.snapshot(upstream), this.weights(upstream));
  }

  #emit(change: ServerChange): void {
    for (const listener of this.#listeners) listener(change);
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
    const probe = this.#probes[s.upstream]![s.server]!;
    const result = await runProbe(checkAddress(u.servers[s.server]!.address, health), probe, health.timeoutMs);
    if (this.#stopped) return;
    // A check aegis could not even start (no descriptors left) is no evidence about the server.
    if (result.local) return this.#schedule(s, health.intervalMs);
    s.last = { at: Date.now(), ok: result.ok, ms: Math.round(result.ms * 10) / 10, reason: result.reason, sent: probe.shown, reply: result.reply ?? "" };
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
    const from = s.state;
    s.state = next;
    s.changes++;
    s.since = Date.now();
    this.#emit({ time: Date.now(), upstream: u.name, server: u.servers[s.server]!.name, what: "state", from, to: next, reason });
    this.events.publish(s.upstream, this.snapshot(s.upstream), this.weights(s.upstream));
  }

  /** Each server's operator state, operator weight and active-check verdict by name, for the state file. */
  saved(): Record<string, Record<string, SavedServer>> {
    return Object.fromEntries(this.config.upstreams.map((u, ui) => [u.name, Object.fromEntries(u.servers.map((srv, si) => {
      const s = this.#servers[ui]![si]!;
      return [srv.name, { admin: s.admin, weight: s.weight, healthy: s.active.healthy }];
    }))]));
  }

  /**
   * What a state file kept, before the first snapshot goes out: a server known down stays down until
   * `rise` checks pass (a restart must not send traffic to it), a drained one stays drained.
   */
  restore(saved: Record<string, Record<string, SavedServer>>): void {
    this.config.upstreams.forEach((u, ui) => u.servers.forEach((srv, si) => {
      const was = saved[u.name]?.[srv.name];
      if (!was) return;
      const s = this.#servers[ui]![si]!;
      s.admin = was.admin;
      s.weight = was.weight !== null && was.weight !== srv.weight ? was.weight : null;
      // Without active checks nothing would ever bring it back: only passive checks judge it then.
      if (u.health) s.active = { healthy: was.healthy, streak: 0 };
      this.#update(s, "restored from the state file");
    }));
  }
}

/** One server in the state file. */
export interface SavedServer {
  admin: AdminState;
  weight: number | null;
  healthy: boolean;
}
