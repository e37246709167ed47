// The Worker lifecycle: starts one Worker per core, restarts crashed ones, reloads them in two phases,
// fans server snapshots out to them and shuts them down gracefully. What it works with (shared
// memory, logger, spawner, health monitors, reload callbacks) is handed in by src/main-thread.ts.
import { StickTables } from "./stick-tables.ts";
import { TalkersBoard } from "./talkers-board.ts";
import { formatAddress } from "../config/address.ts";
import type { Address, Config, ListenerConfig, UpstreamConfig } from "../config/types.ts";
import { discoveryLabel } from "../config/discovery.ts";
import { ServerSets, type UpstreamSets } from "./server-sets.ts";
import type { SourceView } from "./discovery.ts";
import { loadConfigFile } from "../config/load.ts";
import type { HealthEvents, HealthMonitor } from "../health/monitor.ts";
import { forgetWorker } from "../shared/forget-worker.ts";
import { allCounterCells, CounterLayout, L, S, serverSlotRuns, type CounterSlots } from "../shared/layout.ts";
import { CounterReader } from "../telemetry/counters.ts";
import type { Logger } from "../telemetry/log.ts";
import type { FromWorker, ReloadAnswer, ToWorker, WorkerFault, WorkerLog } from "./messages.ts";
import type { Fields } from "../telemetry/log.ts";
import type { SessionRecord } from "../telemetry/session-record.ts";
import { assertPortsFree } from "./port-probe.ts";
import { planReload } from "./reload-plan.ts";
import { ReloadRecord } from "./reload-record.ts";
import type { Reclaim, SharedMemory, SlotRegistry } from "./slots.ts";
import { SnapshotAcks, type AppliedResult } from "./snapshot-acks.ts";
import type { UpgradeResult } from "./upgrade.ts";

export interface ReadyInfo {
  listeners: { name: string; address: string; host: string; port: number }[];
  workers: number;
}

const RESTART_DELAY_MS = 1000;
const CLOSE_DEADLINE_MS = 3000;
/** How often a drain logs the sessions still open. */
const DRAIN_LOG_MS = 5000;
/** How long one phase of a reload waits for a Worker's answer. */
const RELOAD_ANSWER_MS = 5000;
/** A server gone this long may give its counter slot to another (longer than any connect, retry and queue wait). */
const SLOT_REUSE_AFTER_MS = 10 * 60_000;
const ABANDONED = "shutdown began during the reload: abandoned on every Worker";

interface Slot {
  worker: Worker | null;
  exited: Promise<void>;
  listening: boolean;
  /** The highest snapshot sequence number this Worker has applied (-1: not started yet). */
  applied: number;
  /** Waiting for this Worker's answer to a phase of a reload. */
  pendingReload: ((message: ReloadAnswer) => void) | null;
}

export type ReloadResult = { ok: true; changes: string[] } | { ok: false; error: string };

export interface SupervisorOptions {
  config: Config;
  logger: Logger;
  /** Spawns one data-plane Worker. */
  spawn: () => Worker;
  /** The buffer every thread shares and the slot registry it was sized by (SlotRegistry.allocate). */
  memory: SharedMemory;
  /** Servers restored from the state file: discovery's last good sets and the admin API's changes. */
  restore?: Record<string, UpstreamSets>;
  /** Builds the health monitor of a config: at start, and for each reload's commit. */
  health: (config: Config, events: HealthEvents) => HealthMonitor;
  /** A reload begins, whoever asked for it (SIGHUP, the admin API, the file watch). */
  onReloadStart?: () => void;
  /** It ended, taken or not; `config` is then the configuration running. */
  onReloadEnd?: (result: ReloadResult) => void;
  /** A change of servers (discovery, the admin API) was swapped in, or failed to be. */
  onServersChanged?: (result: ReloadResult) => void;
  /**
   * Ports an upgraded-from process serves, by listener name: bound beside it (SO_REUSEPORT) rather
   * than refused as taken, and chosen over a configured 0 so both processes serve the same port.
   */
  inheritedPorts?: Record<string, number>;
  /** Where the Workers' log lines go (default stdout); "main" hands them to `onWorkerLog`. */
  workerLog?: WorkerLog;
  onWorkerLog?: (records: Fields[]) => void;
  /** Ended sessions, in the Workers' batches, while `sessionEvents(true)` is in effect. */
  onSessions?: (records: SessionRecord[]) => void;
}

/** The key of each discovery source of an upstream, in its order. */
const discoveryLabels = (u: UpstreamConfig): string[] => (u.discovery ?? []).map(discoveryLabel);

export class Supervisor {
  config: Config;
  readonly logger: Logger;
  layout: CounterLayout;
  readonly sab: SharedArrayBuffer;
  reader: CounterReader;
  readonly #options: SupervisorOptions;
  readonly #registry: SlotRegistry;
  #slotsNow: CounterSlots;
  /** The reload in progress, if any: a Worker restart waits for it, so it starts on the config that won. */
  #reloading: Promise<ReloadResult> | null = null;
  /** What the swap in progress is: an operator's reload of the file, or a change of servers. */
  #reloadingKind: "file" | "servers" = "file";
  /** A change of servers waiting for the swap in progress, and why it was asked for. */
  #refreshQueued: Promise<ReloadResult> | null = null;
  readonly #refreshWhy: string[] = [];
  readonly #shadowedSeen = new Set<string>();
  /** The config as the file gave it; `config` is this merged with `servers`. */
  fileConfig: Config;
  /** An in-place upgrade (POST /api/upgrade), once main-thread.ts has wired it. */
  upgrade: ((trigger: string) => Promise<UpgradeResult>) | null = null;
  /** The discovery sources, once main-thread.ts has started them (for /metrics and /metrics.json). */
  discovery: { views(): SourceView[] } | null = null;
  /** What discovery found and what the admin API added, moved or removed. */
  readonly servers = new ServerSets();
  /** The operator's reloads (file, SIGHUP, admin API): counts, last success, last failure. */
  readonly reloads = new ReloadRecord();
  #reloadId = 0;
  /** Sequence numbers of server snapshots, and which each Worker applied. */
  readonly #acks = new SnapshotAcks(() => this.#slots);
  #slots: Slot[] = [];
  #ports: number[] | null = null;
  #stopping = false;
  /** Whether the Workers post ended sessions; a Worker that (re)starts is told in its start message. */
  #sessionEvents = false;
  health: HealthMonitor;
  /** Stick tables shared with the Workers (kept across reloads). */
  readonly sticks = new StickTables();
  /** Top talkers as the Workers last posted them. */
  readonly talkers = new TalkersBoard();

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.logger = options.logger;
    this.fileConfig = options.config;
    if (options.restore) {
      this.servers.restore(options.restore);
      this.servers.keepOnly(options.config, discoveryLabels); // upstreams and sources no longer in the file
    }
    this.config = this.merged(options.config);
    this.sab = options.memory.sab;
    this.#registry = options.memory.registry;
    this.#slotsNow = this.#registry.assign(this.config);
    this.layout = new CounterLayout(this.#slotsNow, this.config.global.workers);
    this.reader = new CounterReader(this.sab, this.layout);
    this.health = this.#newHealth(this.config);
  }

  #newHealth(config: Config): HealthMonitor {
    const monitor: HealthMonitor = this.#options.health(config, {
      // A superseded monitor (after a reload) must not publish with its old server indices.
      publish: (upstream, states, weights) => {
        if (monitor !== this.health) return;
        this.#post({ type: "servers", seq: this.#acks.next(), upstream, states, weights });
        this.sticks.dropUnavailable(config.upstreams[upstream]!, states); // the Workers also skip them at once
      },
      successes: (upstream, server) => this.reader.server(upstream, server, S.sessionsOk),
    });
    return monitor;
  }

  /** Shutting down (a signal, or handed over by an upgrade): the Workers drain and accept nothing new. */
  get stopping(): boolean {
    return this.#stopping;
  }

  workersRunning(): number {
    return this.#slots.filter((s) => s.listening).length;
  }

  /** The last snapshot sent, and what each Worker has applied (null: none running in that place). */
  snapshotSeqs(): { sent: number; applied: (number | null)[] } {
    return this.#acks.view();
  }

  /**
   * Resolves once every live Worker has applied every snapshot sent so far (a state or weight
   * change, a health change, a reload's commit), or after `timeoutMs` naming those that did not.
   */
  untilApplied(timeoutMs: number): Promise<AppliedResult> {
    return this.#acks.untilApplied(timeoutMs);
  }

  /** Tests only (AEGIS_TEST_FAULTS=1, checked again in the Worker): make Worker `index` crash or stall. */
  injectFault(index: number, fault: WorkerFault): boolean {
    const worker = this.#slots[index]?.worker;
    worker?.postMessage({ type: "fault", fault } satisfies ToWorker);
    return worker !== undefined && worker !== null;
  }

  /** Start every Worker; resolves once all listeners accept in every Worker. */
  async start(): Promise<ReadyInfo> {
    const { config } = this;
    const inherited = this.#options.inheritedPorts ?? {};
    const ours = (l: ListenerConfig) => inherited[l.name] !== undefined && (l.bind.port === 0 || l.bind.port === inherited[l.name]);
    assertPortsFree(config.listeners.filter((l) => !ours(l)));
    // Worker 0 binds first so a port given as 0 is chosen once and shared by the others.
    const first = this.#startWorker(0, config.listeners.map((l) => (ours(l) ? inherited[l.name]! : null)));
    try {
      this.#ports = (await first).map((a) => a.port);
      await Promise.all(Array.from({ length: config.global.workers - 1 }, (_, i) => this.#startWorker(i + 1)));
    } catch (err) {
      first.catch(() => {}); // already failing for another reason; one error is enough
      await this.#stopAll();
      throw err;
    }
    this.health.start();
    return { listeners: this.listening(), workers: config.global.workers };
  }

  /** Each listener of the running config and the address it is bound to (port 0 resolved). */
  listening(): { name: string; address: string; host: string; port: number }[] {
    return this.config.listeners.map((l, i) => {
      const port = this.#ports?.[i] ?? l.bind.port;
      return { name: l.name, address: formatAddress({ host: l.bind.host, port }), host: l.bind.host, port };
    });
  }

  /** The port each listener serves, by name (after start). */
  listenerPorts(): Record<string, number> {
    return Object.fromEntries(this.config.listeners.map((l, i) => [l.name, this.#ports?.[i] ?? l.bind.port]));
  }

  #startWorker(index: number, ports: (number | null)[] | null = this.#ports): Promise<Address[]> {
    return new Promise((resolve, reject) => {
      const worker = this.#options.spawn();
      let settled = false;
      let markExited!: () => void;
      const slot: Slot = { worker, listening: false, applied: -1, exited: new Promise((r) => (markExited = r)), pendingReload: null };
      this.#slots[index] = slot;
      const startSeq = this.#acks.sent;
      worker.onmessage = (event: MessageEvent<FromWorker>) => {
        const message = event.data;
        if (message.type === "listening" && !settled) {
          settled = true;
          slot.listening = true;
          this.#acks.applied(slot, startSeq);
          resolve(message.addresses);
        } else if (message.type === "failed" && !settled) {
          settled = true;
          reject(new Error(message.error));
        } else if (message.type === "applied") {
          this.#acks.applied(slot, message.seq);
        } else if (message.type === "prepared" || message.type === "committed" || message.type === "aborted" || message.type === "reload_failed") {
          if (message.type === "committed") this.#acks.applied(slot, message.seq);
          slot.pendingReload?.(message);
        } else if (message.type === "server_failure") {
          this.health.reportFailure(message.upstream, message.server);
        } else if (message.type === "talkers") {
          this.talkers.post(message.worker, message.listeners);
        } else if (message.type === "sessions") {
          this.#options.onSessions?.(message.records);
        } else if (message.type === "log") {
          this.#options.onWorkerLog?.(message.records);
        }
      };
      worker.addEventListener("error", (event) => {
        this.logger.error("worker error", { worker: index, error: (event as ErrorEvent).message });
      });
      worker.addEventListener("close", (event) => {
        slot.listening = false;
        slot.worker = null;
        forgetWorker(this.sab, this.layout.map, index); // its sessions are gone: give back all it held
        this.talkers.forget(index);
        slot.pendingReload?.({ type: "reload_failed", worker: index, id: -1, error: `Worker ${index} exited (code ${(event as CloseEvent).code})` });
        this.#acks.changed(); // nobody waits for a dead Worker
        markExited();
        if (!settled) {
          settled = true;
          reject(new Error(`worker ${index} exited during start-up (code ${(event as CloseEvent).code})`));
        } else if (!this.#stopping) {
          this.logger.error("worker exited unexpectedly, restarting", { worker: index, code: (event as CloseEvent).code });
          setTimeout(() => this.#restart(index), RESTART_DELAY_MS);
        }
      });
      const snapshots = this.config.upstreams.map((_, u) => this.health.snapshot(u));
      const weights = this.config.upstreams.map((_, u) => this.health.weights(u));
      const start: ToWorker = { type: "start", config: this.config, slots: this.#slotsNow, worker: index, sab: this.sab, ports, snapshots, weights, seq: startSeq, sticks: this.sticks.buffers(this.config),
        log: this.#options.workerLog ?? "stdout", sessionEvents: this.#sessionEvents };
      worker.postMessage(start);
    });
  }

  #restart(index: number): void {
    if (this.#stopping) return;
    // Mid-reload, the replacement would start on a config about to be replaced: wait for the outcome.
    if (this.#reloading) return void this.#reloading.finally(() => this.#restart(index));
    this.#startWorker(index).then(
      () => this.logger.info("worker restarted", { worker: index }),
      (err) => this.logger.error("worker restart failed", { worker: index, error: (err as Error).message }),
    );
  }

  /** Have every Worker post its ended sessions (a program listens for them), or stop doing so. */
  sessionEvents(on: boolean): void {
    if (on === this.#sessionEvents) return;
    this.#sessionEvents = on;
    this.#post({ type: "session_events", on });
  }

  /**
   * Re-read the config file (or take the one `read` gives: a library's config object) and swap every Worker to it without dropping a connection, in two
   * phases: every Worker prepares (binds the new listeners, builds the new upstreams), and only when
   * all have, every Worker commits. A failure to prepare anywhere aborts everywhere, so all Workers
   * run the new config or all the old one. An invalid file changes nothing. Worker 0 prepares
   * first, so a new listener on port 0 gets one port that the others then share. Refused during
   * shutdown, and abandoned when shutdown begins before the commit. `read` may throw: a readable error.
   */
  reload(read?: () => Config): Promise<ReloadResult> {
    if (this.#stopping) {
      this.logger.warn("reload refused: shutting down", { config: this.config.source });
      return Promise.resolve({ ok: false, error: "shutting down" });
    }
    // A change of servers in flight is short and not the operator's: the reload waits for it.
    if (this.#reloading && this.#reloadingKind === "servers") return this.#reloading.then(() => this.reload(read));
    if (this.#reloading) return Promise.resolve({ ok: false, error: "a reload is already in progress" });
    this.#reloadingKind = "file";
    return (this.#reloading = this.#reloadAndReport(read));
  }

  /**
   * The servers changed (discovery, the admin API): swap every Worker to the file's config merged
   * with `servers`, the same two phases as a reload, without reading the file. Changes asked for
   * while another swap runs are merged into one swap after it. Resolves with that swap's outcome.
   */
  refresh(why: string): Promise<ReloadResult> {
    if (this.#stopping) return Promise.resolve({ ok: false, error: "shutting down" });
    this.#refreshWhy.push(why);
    if (this.#refreshQueued) return this.#refreshQueued;
    const run = async (): Promise<ReloadResult> => {
      await null; // the caller stores this promise as the queued one before it runs on
      for (let i = 0; this.#reloading && i < 1000; i++) await this.#reloading;
      this.#refreshQueued = null;
      if (this.#stopping) return { ok: false, error: "shutting down" };
      const reasons = this.#refreshWhy.splice(0);
      const next = this.merged(this.fileConfig);
      if (JSON.stringify(next) === JSON.stringify(this.config)) return { ok: true, changes: [] };
      this.#reloadingKind = "servers";
      const result = await (this.#reloading = this.#swap(() => next).catch((err: Error): ReloadResult => ({ ok: false, error: err.message })));
      this.#reloading = null;
      this.sticks.settle(this.config);
      if (result.ok) this.logger.info("servers changed", { why: reasons, changes: result.changes });
      else this.logger.error("servers could not change, the running ones stay", { why: reasons, error: result.error });
      this.#options.onServersChanged?.(result);
      return result;
    };
    return (this.#refreshQueued = run());
  }

  /** `file` with the servers discovery and the admin API added, moved or removed. */
  merged(file: Config): Config {
    return this.servers.merge(file, discoveryLabels, (s) => {
      const key = `${s.upstream}\n${s.server}\n${s.by}`;
      if (this.#shadowedSeen.has(key)) return;
      this.#shadowedSeen.add(key);
      this.logger.warn("server left out", { upstream: s.upstream, server: s.server, why: s.by });
    });
  }

  async #reloadAndReport(read: (() => Config) | undefined): Promise<ReloadResult> {
    this.#options.onReloadStart?.();
    const result = await this.#reload(read).catch((err: Error): ReloadResult => ({ ok: false, error: err.message }));
    this.#reloading = null;
    this.sticks.settle(this.config); // a reload not taken lets go of the tables it allocated
    if (result.ok) this.reloads.succeeded();
    else if (result.error !== ABANDONED) this.reloads.refused(result.error);
    if (result.ok) this.logger.info("reloaded", { config: this.config.source, changes: result.changes });
    else if (result.error === ABANDONED) this.logger.warn("reload refused: shutting down", { config: this.config.source, error: result.error });
    else this.logger.error("reload failed, the running configuration stays", { error: result.error });
    this.#options.onReloadEnd?.(result);
    return result;
  }

  async #reload(read: (() => Config) | undefined): Promise<ReloadResult> {
    const old = this.fileConfig;
    if (!read && old.source.startsWith("<")) return { ok: false, error: `the ${old.source} configuration has no file to reload from` };
    let file: Config;
    try {
      file = read ? read() : loadConfigFile(old.source);
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
    // Without a state file, the admin API's server changes last until the next reload.
    const before = this.servers.save();
    if (file.global.stateFile === null) this.servers.clearApi();
    this.servers.keepOnly(file, discoveryLabels);
    const result = await this.#swap(() => this.merged(file));
    if (result.ok) this.fileConfig = file;
    else this.servers.restore(before);
    return result;
  }

  /** The two phases of a reload, to the config `build` gives (it may throw: a readable error). */
  async #swap(build: () => Config): Promise<ReloadResult> {
    const old = this.config;
    let next: Config;
    let slots: CounterSlots;
    try {
      next = build();
      slots = this.#registry.assign(next, this.#reclaim());
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
    const notes: string[] = [];
    if (next.global.workers !== old.global.workers) {
      notes.push(`global.workers stays ${old.global.workers} until restart`);
      next = { ...next, global: { ...next.global, workers: old.global.workers } };
    }
    const plan = planReload(old, next, this.#ports ?? []);
    try {
      assertPortsFree(plan.fresh);
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
    const live = this.#slots.filter((s) => s.worker !== null);
    const [first, ...rest] = live;
    if (!first) return { ok: false, error: "no Worker is running" };
    const id = ++this.#reloadId;

    // Phase 1: prepare everywhere.
    const sticks = this.sticks.buffers(next);
    const prepare = (ports: (number | null)[]): ToWorker => ({ type: "reload_prepare", id, config: next, slots, ports, sticks });
    const firstAnswer = await this.#ask(first, prepare(plan.ports));
    let failure = firstAnswer.type === "prepared" ? null : firstAnswer;
    let ports: number[] = [];
    if (firstAnswer.type === "prepared") {
      ports = firstAnswer.addresses.map((a) => a.port);
      const answers = await Promise.all(rest.map((s) => this.#ask(s, prepare(ports))));
      failure = answers.find((a) => a.type !== "prepared") ?? null;
    }
    const stopping = this.#stopping;
    if (failure || stopping) {
      // Close what was prepared anywhere; the Workers that failed have nothing to close.
      await Promise.all(live.filter((s) => s.worker !== null).map((s) => this.#ask(s, { type: "reload_abort", id })));
      if (stopping || !failure) return { ok: false, error: ABANDONED };
      const error = failure.type === "reload_failed" ? failure.error : `unexpected answer ${failure.type}`;
      return { ok: false, error: `Worker ${failure.worker} could not prepare the reload, so no Worker takes it: ${error}` };
    }

    // Phase 2: commit everywhere. Nothing can fail in a Worker now; the supervisor switches in the
    // same turn as it posts, so a Worker that restarts from here on starts on the new config.
    const health = this.#newHealth(next);
    health.carryOver(this.health);
    const snapshots = next.upstreams.map((_, u) => health.snapshot(u));
    const weights = next.upstreams.map((_, u) => health.weights(u));
    const seq = this.#acks.next();
    this.health.stop();
    this.health = health;
    this.config = next;
    this.#slotsNow = slots;
    this.#ports = ports;
    this.layout = new CounterLayout(slots, next.global.workers);
    this.reader = new CounterReader(this.sab, this.layout);
    this.sticks.settle(next);
    this.sticks.forgetRemovedServers(old, next);
    this.#registry.inUse(next, performance.now());
    const commits = await Promise.all(live.map((s) => this.#ask(s, { type: "reload_commit", id, seq, snapshots, weights })));
    health.start();
    // A Worker that exited meanwhile is not a failure: it restarts on the new config.
    const unconfirmed = commits.filter((a, i) => a.type !== "committed" && live[i]!.worker !== null);
    if (unconfirmed.length > 0) {
      const errors = unconfirmed.map((a) => `Worker ${a.worker}: ${a.type === "reload_failed" ? a.error : a.type}`);
      return { ok: false, error: `the new configuration is committed, but not every Worker confirmed it: ${errors.join("; ")}` };
    }
    return { ok: true, changes: [...plan.changes, ...notes] };
  }

  /** How a gone server's counter slot may be reused: no Worker counts a session or pooled socket on it. */
  #reclaim(): Reclaim {
    const map = this.layout.map;
    const cells = allCounterCells(this.sab, map);
    const each = (slot: number, f: (cell: number) => void) => {
      for (let w = 0; w < map.workers; w++) f(w * map.stride + map.serverCells(slot));
    };
    return {
      now: performance.now(),
      goneForMs: SLOT_REUSE_AFTER_MS,
      idle: (slot) => {
        let busy = 0;
        each(slot, (base) => (busy += cells[base + S.active]! + cells[base + S.poolIdle]!));
        return busy === 0;
      },
      zero: (slot) => {
        for (let w = 0; w < map.workers; w++) for (const [first, count] of serverSlotRuns(map, slot)) cells.fill(0, w * map.stride + first, w * map.stride + first + count);
      },
    };
  }

  /** Send one phase of a reload to `slot`'s Worker and wait for its answer (bounded; an exit answers too). */
  #ask(slot: Slot, message: ToWorker): Promise<ReloadAnswer> {
    const index = this.#slots.indexOf(slot);
    return new Promise((resolve) => {
      const id = "id" in message ? message.id : -1;
      const timer = setTimeout(() => done({ type: "reload_failed", worker: index, id, error: `Worker ${index} did not answer within ${RELOAD_ANSWER_MS / 1000} s` }), RELOAD_ANSWER_MS);
      const done = (m: ReloadAnswer) => {
        clearTimeout(timer);
        slot.pendingReload = null;
        resolve(m);
      };
      if (!slot.worker) return done({ type: "reload_failed", worker: index, id, error: `Worker ${index} is not running` });
      slot.pendingReload = done;
      slot.worker.postMessage(message);
    });
  }

  /**
   * Graceful stop: Workers stop accepting at once and exit when their sessions end; after
   * `shutdown_grace` the rest are closed. Resolves when every Worker has exited.
   */
  async shutdown(): Promise<void> {
    this.#stopping = true;
    const grace = this.config.global.shutdownGraceMs;
    this.logger.info("shutting down", { grace_ms: grace, active: this.#active() });
    this.health.stop();
    this.#post({ type: "drain" });
    // A drain may last the whole grace: say how it goes (after an upgrade, the log is its only view).
    const progress = setInterval(() => this.logger.info("draining", { active: this.#active() }), DRAIN_LOG_MS);
    const drained = await this.#allExitedWithin(grace);
    clearInterval(progress);
    if (!drained) {
      this.logger.warn("shutdown grace over, closing remaining sessions", { active: this.#active() });
      this.#post({ type: "close" });
      if (!(await this.#allExitedWithin(CLOSE_DEADLINE_MS))) {
        for (const slot of this.#slots) slot.worker?.terminate(); // last resort: Bun's terminate() has crashed before
      }
    }
    // A reload that shutdown overtook has its outcome logged before "stopped" (its waits are bounded).
    await this.#reloading;
  }

  /** A second signal: every Worker ends its sessions now (resets where bytes were unsent); resolves once they exited, or after a deadline. */
  async closeNow(): Promise<void> {
    this.#stopping = true;
    this.#post({ type: "close" });
    await this.#allExitedWithin(CLOSE_DEADLINE_MS);
  }

  #active(): number {
    let total = 0;
    for (let l = 0; l < this.layout.listenerCount; l++) total += this.reader.listener(l, L.active);
    return total;
  }

  #post(message: ToWorker): void {
    for (const slot of this.#slots) slot.worker?.postMessage(message);
  }

  async #allExitedWithin(ms: number): Promise<boolean> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
    const done = Promise.all(this.#slots.map((s) => s.exited)).then(() => true);
    const result = await Promise.race([done, timeout]);
    clearTimeout(timer);
    return result;
  }

  async #stopAll(): Promise<void> {
    this.#stopping = true;
    this.health.stop();
    this.#post({ type: "close" });
    if (!(await this.#allExitedWithin(CLOSE_DEADLINE_MS))) for (const slot of this.#slots) slot.worker?.terminate();
  }
}
