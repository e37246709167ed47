// The control plane: starts one Worker per core, serves metrics, restarts crashed Workers, shuts down gracefully.
import type { Server } from "bun";
import { formatAddress } from "../config/address.ts";
import type { Address, Config } from "../config/types.ts";
import { counterLayoutFor } from "../data/plane.ts";
import { CounterReader, L, S, admissionCell, type CounterLayout } from "../telemetry/counters.ts";
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
}

export class Supervisor {
  readonly layout: CounterLayout;
  readonly sab: SharedArrayBuffer;
  readonly reader: CounterReader;
  #slots: Slot[] = [];
  #ports: number[] | null = null;
  #metrics: Server<undefined> | null = null;
  #stopping = false;
  readonly health: HealthMonitor;

  constructor(readonly config: Config, readonly logger: Logger, readonly spawn: () => Worker) {
    this.layout = counterLayoutFor(config);
    this.sab = this.layout.allocate();
    this.reader = new CounterReader(this.sab, this.layout);
    this.health = new HealthMonitor(config, logger, {
      publish: (upstream, available) => this.#post({ type: "servers", upstream, available }),
      successes: (upstream, server) => this.reader.server(upstream, server, S.connections),
    });
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
      const slot: Slot = { worker, listening: false, exited: new Promise((r) => (markExited = r)) };
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
      const start: ToWorker = { type: "start", config: this.config, worker: index, sab: this.sab, ports: this.#ports, snapshots };
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

  /** A dead Worker's sessions are gone: give back their admission slots and zero its gauges. */
  #forgetActive(index: number): void {
    const region = new Float64Array(this.sab, 64 + index * this.layout.stride * 8, this.layout.stride);
    let active = 0;
    for (let l = 0; l < this.layout.listenerCount; l++) {
      const cell = this.layout.listenerBase(l) + L.active;
      active += region[cell]!;
      region[cell] = 0;
    }
    this.config.upstreams.forEach((u, ui) => u.servers.forEach((_, si) => {
      const base = this.layout.serverBase(ui, si);
      region[base + S.active] = 0;
      region[base + S.poolIdle] = 0;
    }));
    if (active > 0) Atomics.sub(admissionCell(this.sab), 0, active);
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
