// The control plane: starts one Worker per core, serves metrics, restarts crashed Workers, shuts down gracefully.
import type { Server } from "bun";
import { formatAddress } from "../config/address.ts";
import type { Address, Config } from "../config/types.ts";
import { loadConfigFile } from "../config/load.ts";
import { CounterLayout, CounterReader, L, S, admissionCell, type CounterSlots } from "../telemetry/counters.ts";
import { planReload } from "./reload-plan.ts";
import { SlotRegistry } from "./slots.ts";
import type { Logger } from "../telemetry/log.ts";
import { startMetricsServer } from "../telemetry/metrics-server.ts";
import { HealthMonitor } from "../health/monitor.ts";
import type { FromWorker, ToWorker } from "./messages.ts";
import { assertPortsFree } from "./port-probe.ts";

export interface ReadyInfo {
  listeners: { name: string; address: string }[];
  metrics: string | null;
  workers: number;
}

const RESTART_DELAY_MS = 1000;
const CLOSE_DEADLINE_MS = 3000;

interface Slot {
  worker: Worker | null;
  exited: Promise<void>;
  listening: boolean;
  /** Waiting for this Worker's answer to a reload. */
  pendingReload: ((message: FromWorker) => void) | null;
}

export type ReloadResult = { ok: true; changes: string[] } | { ok: false; error: string };

/** What the process around the supervisor does on every reload, whoever asked for it. */
export interface ReloadHooks {
  /** A reload begins (systemd: RELOADING=1). */
  before(): void;
  /** It ended, taken or not; `this.config` is the configuration now running. */
  after(result: ReloadResult): void;
}

export class Supervisor {
  layout: CounterLayout;
  readonly sab: SharedArrayBuffer;
  reader: CounterReader;
  readonly #registry: SlotRegistry;
  #slotsNow: CounterSlots;
  #reloading = false;
  #slots: Slot[] = [];
  #ports: number[] | null = null;
  #metrics: Server<undefined> | null = null;
  #stopping = false;
  health: HealthMonitor;
  /** Set by the composition root so SIGHUP, the admin API and the file watch reload alike. */
  reloadHooks: ReloadHooks | null = null;

  constructor(public config: Config, readonly logger: Logger, readonly spawn: () => Worker) {
    this.#registry = new SlotRegistry(config);
    this.#slotsNow = this.#registry.assign(config);
    this.layout = new CounterLayout(this.#slotsNow, config.global.workers);
    this.sab = this.layout.allocate();
    this.reader = new CounterReader(this.sab, this.layout);
    this.health = this.#newHealth(config);
  }

  #newHealth(config: Config): HealthMonitor {
    const monitor: HealthMonitor = new HealthMonitor(config, this.logger, {
      // A superseded monitor (after a reload) must not publish with its old server indices.
      publish: (upstream, states, weights) => { if (monitor === this.health) this.#post({ type: "servers", upstream, states, weights }); },
      successes: (upstream, server) => this.reader.server(upstream, server, S.sessionsOk),
    });
    return monitor;
  }

  workersRunning(): number {
    return this.#slots.filter((s) => s.listening).length;
  }

  /** Start metrics and every Worker; resolves once all listeners accept in every Worker. */
  async start(): Promise<ReadyInfo> {
    const { config } = this;
    assertPortsFree(config.listeners);
    // Worker 0 binds first so a port given as 0 is chosen once and shared by the others.
    const first = this.#startWorker(0);
    try {
      if (config.metrics.listen) this.#metrics = this.#startMetrics(config.metrics.listen);
      this.#ports = (await first).map((a) => a.port);
      await Promise.all(Array.from({ length: config.global.workers - 1 }, (_, i) => this.#startWorker(i + 1)));
    } catch (err) {
      first.catch(() => {}); // already failing for another reason; one error is enough
      await this.#stopAll();
      throw err;
    }
    this.health.start();
    return {
      listeners: config.listeners.map((l, i) => ({ name: l.name, address: formatAddress({ host: l.bind.host, port: this.#ports![i]! }) })),
      metrics: this.#metrics ? formatAddress({ host: config.metrics.listen!.host, port: this.#metrics.port! }) : null,
      workers: config.global.workers,
    };
  }

  #startMetrics(listen: Address): Server<undefined> {
    try {
      return startMetricsServer(listen, this);
    } catch (err) {
      throw new Error(`metrics: cannot listen on ${formatAddress(listen)}: ${(err as Error).message}`);
    }
  }

  #startWorker(index: number): Promise<Address[]> {
    return new Promise((resolve, reject) => {
      const worker = this.spawn();
      let settled = false;
      let markExited!: () => void;
      const slot: Slot = { worker, listening: false, exited: new Promise((r) => (markExited = r)), pendingReload: null };
      this.#slots[index] = slot;
      worker.onmessage = (event: MessageEvent<FromWorker>) => {
        const message = event.data;
        if (message.type === "listening" && !settled) {
          settled = true;
          slot.listening = true;
          resolve(message.addresses);
        } else if (message.type === "failed" && !settled) {
          settled = true;
          reject(new Error(message.error));
        } else if (message.type === "reloaded" || message.type === "reload_failed") {
          slot.pendingReload?.(message);
        } else if (message.type === "server_failure") {
          this.health.reportFailure(message.upstream, message.server);
        }
      };
      worker.addEventListener("error", (event) => {
        this.logger.error("worker error", { worker: index, error: (event as ErrorEvent).message });
      });
      worker.addEventListener("close", (event) => {
        slot.listening = false;
        slot.worker = null;
        this.#forgetActive(index);
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
      const start: ToWorker = { type: "start", config: this.config, slots: this.#slotsNow, worker: index, sab: this.sab, ports: this.#ports, snapshots, weights };
      worker.postMessage(start);
    });
  }

  #restart(index: number): void {
    if (this.#stopping) return;
    this.#startWorker(index).then(
      () => this.logger.info("worker restarted", { worker: index }),
      (err) => this.logger.error("worker restart failed", { worker: index, error: (err as Error).message }),
    );
  }

  /** A dead Worker's sessions are gone: give back their admission slots and zero its gauges (every slot, old configs' too). */
  #forgetActive(index: number): void {
    const region = new Float64Array(this.sab, 64 + index * this.layout.stride * 8, this.layout.stride);
    const { listenerCapacity, serverCapacity } = this.#slotsNow;
    const lay = new CounterLayout({ listeners: Array.from({ length: listenerCapacity }, (_, i) => i), servers: [Array.from({ length: serverCapacity }, (_, i) => i)], listenerCapacity, serverCapacity }, this.layout.workers);
    let active = 0;
    for (let l = 0; l < listenerCapacity; l++) {
      const cell = lay.listenerBase(l) + L.active;
      active += region[cell]!;
      region[cell] = 0;
    }
    for (let s = 0; s < serverCapacity; s++) {
      const base = lay.serverBase(0, s);
      region[base + S.active] = 0;
      region[base + S.poolIdle] = 0;
    }
    if (active > 0) Atomics.sub(admissionCell(this.sab), 0, active);
  }

  /**
   * Re-read the config file and swap every Worker to it without dropping a connection. An invalid
   * file changes nothing: the error is logged and returned. Worker 0 goes first, so a new listener
   * on port 0 gets one port that the others then share.
   */
  async reload(): Promise<ReloadResult> {
    if (this.#reloading) return { ok: false, error: "a reload is already in progress" };
    if (this.#stopping) return { ok: false, error: "shutting down" };
    this.#reloading = true;
    this.reloadHooks?.before();
    const result: ReloadResult = await this.#reload().catch((err: Error) => ({ ok: false, error: err.message }));
    this.#reloading = false;
    if (result.ok) this.logger.info("reloaded", { config: this.config.source, changes: result.changes });
    else this.logger.error("reload failed, the running configuration stays", { error: result.error });
    this.reloadHooks?.after(result);
    return result;
  }

  async #reload(): Promise<ReloadResult> {
    const old = this.config;
    if (old.source.startsWith("<")) return { ok: false, error: `the ${old.source} configuration has no file to reload from` };
    let next: Config;
    let slots: CounterSlots;
    try {
      next = loadConfigFile(old.source);
      slots = this.#registry.assign(next);
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
    const health = this.#newHealth(next);
    health.carryOver(this.health);
    const snapshots = next.upstreams.map((_, u) => health.snapshot(u));
    const weights = next.upstreams.map((_, u) => health.weights(u));
    const live = this.#slots.filter((s) => s.worker !== null);
    const [first, ...rest] = live;
    if (!first) return { ok: false, error: "no Worker is running" };
    const answer = await this.#askReload(first, { type: "reload", config: next, slots, ports: plan.ports, snapshots, weights });
    if (answer.type !== "reloaded") return { ok: false, error: answer.type === "reload_failed" ? answer.error : "no answer" };
    const ports = answer.addresses.map((a) => a.port);
    const answers = await Promise.all(rest.map((s) => this.#askReload(s, { type: "reload", config: next, slots, ports, snapshots, weights })));
    const failed = answers.find((a) => a.type !== "reloaded");
    // Worker 0 has switched; a later failure (rare: binds were probed) is reported, not rolled back.
    if (failed) this.logger.error("a Worker could not reload", { error: failed.type === "reload_failed" ? failed.error : "no answer" });
    this.health.stop();
    this.health = health;
    this.config = next;
    this.#slotsNow = slots;
    this.#ports = ports;
    this.layout = new CounterLayout(slots, next.global.workers);
    this.reader = new CounterReader(this.sab, this.layout);
    health.start();
    return { ok: true, changes: [...plan.changes, ...notes] };
  }

  #askReload(slot: Slot, message: ToWorker): Promise<FromWorker> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done({ type: "reload_failed", worker: -1, error: "the Worker did not answer within 5 s" }), 5000);
      const done = (m: FromWorker) => {
        clearTimeout(timer);
        slot.pendingReload = null;
        resolve(m);
      };
      slot.pendingReload = done;
      slot.worker!.postMessage(message);
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
    this.#metrics?.stop(true);
    if (!(await this.#allExitedWithin(grace))) {
      this.logger.warn("shutdown grace over, closing remaining sessions", { active: this.#active() });
      this.#post({ type: "close" });
      if (!(await this.#allExitedWithin(CLOSE_DEADLINE_MS))) {
        for (const slot of this.#slots) slot.worker?.terminate(); // last resort: Bun's terminate() has crashed before
      }
    }
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
    this.#metrics?.stop(true);
    this.#post({ type: "close" });
    if (!(await this.#allExitedWithin(CLOSE_DEADLINE_MS))) for (const slot of this.#slots) slot.worker?.terminate();
  }
}
