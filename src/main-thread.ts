// The main thread's composition root: builds the shared memory, the supervisor, the health monitors
// and the HTTP server, and runs a config (`createMainThread`, shared by the CLI and the library);
// `runProxy` wires it to the process for the CLI: signals, sd_notify, upgrade in place, the exit code.
import { pageOutExecutable } from "./os/page-out.ts";
import type { Server } from "bun";
import { startHttpServer } from "./admin/server.ts";
import { ChangeLog } from "./admin/changes.ts";
import { rootWarning } from "./cli/service/root-warning.ts";
import { formatAddress } from "./config/address.ts";
import type { Config } from "./config/types.ts";
import { watchConfig } from "./control/config-watch.ts";
import type { WorkerLog } from "./control/messages.ts";
import { sdNotify } from "./control/sd-notify.ts";
import { allocateShared } from "./control/slots.ts";
import { Supervisor, type ReadyInfo, type ReloadResult } from "./control/supervisor.ts";
import { descriptorWarning } from "./os/descriptors.ts";
import { balanceWarnings } from "./balancing/warnings.ts";
import { tlsWarnings } from "./config/tls-report.ts";
import { metricsWarnings } from "./config/metrics-warnings.ts";
import { HealthMonitor } from "./health/monitor.ts";
import { DiscoveryManager } from "./control/discovery.ts";
import { readStateFile, StateWriter } from "./control/state-file.ts";
import type { Fields, Logger } from "./telemetry/log.ts";
import type { SessionRecord } from "./telemetry/session-record.ts";
import { reportHandoff, upgradeHandoff, type Handoff } from "./control/upgrade-handoff.ts";
import { Upgrader } from "./control/upgrade.ts";

/** What "ready" reports: every listener's address, the HTTP server's (null when off), the Workers. */
export interface Ready extends ReadyInfo {
  metrics: string | null;
}

export interface MainThreadOptions {
  logger: Logger;
  spawnWorker: () => Worker;
  /**
   * This process is the service (the CLI): it talks to systemd (sd_notify) and warns when run as
   * root. A program that runs aegis as a library is neither.
   */
  service: boolean;
  /** Where the Workers' log lines go (default stdout); "main" hands them to `onWorkerLog`. */
  workerLog?: WorkerLog;
  onWorkerLog?: (records: Fields[]) => void;
  /** Ended sessions, batched by the Workers, while `supervisor.sessionEvents(true)` is in effect. */
  onSessions?: (records: SessionRecord[]) => void;
  /** Each operator reload's outcome (file, SIGHUP, admin API, a library's reload), once it ended. */
  onReload?: (result: ReloadResult) => void;
  /**
   * Upgrade in place (the CLI only: a library cannot re-exec its host program). `handoff`: this
   * process was started by an upgrade, so it binds the old one's ports beside it and tells it when
   * ready. `onHandedOver`: a new process serves now, and this one must stop (drain) as on SIGTERM.
   */
  upgrade?: { handoff: Handoff | null; onHandedOver: () => void };
}

/** One running configuration: built at once, listening after `start`, gone after `stop`. */
export interface MainThread {
  readonly supervisor: Supervisor;
  /** The last state and weight changes, which /metrics.json lists. */
  readonly changes: ChangeLog;
  /** Resolves once every listener accepts in every Worker; rejects (after logging it) when it cannot start. */
  start(): Promise<Ready>;
  /** A reload asked for by `why`; `read` gives the new config (default: the file again). Refused while starting. */
  reload(why: string, read?: () => Config): Promise<ReloadResult>;
  /** Graceful stop, as on SIGTERM: drain within shutdown_grace, then close. The same promise every call. */
  stop(): Promise<void>;
  /** End every session now (resets where bytes were unsent); resolves once the Workers exited. */
  closeNow(): Promise<void>;
  /** Refuse upgrades from now on, and stop a new process still starting (a signal to stop came). */
  refuseUpgrades(): void;
  /** Another process serves now (an upgrade): this one only drains, and writes no state file. */
  readonly handedOver: boolean;
}

export function createMainThread(config: Config, options: MainThreadOptions): MainThread {
  const { logger } = options;
  let ready = false;
  let stopping = false;
  let handedOver = false;
  const handoff = options.upgrade?.handoff ?? null;
  const notify = (state: string) => {
    if (options.service) notifySystemd(logger, state);
  };
  // `watch = true` watches the file; a reload can turn it on or off.
  let watcher: { close(): void } | null = null;
  const watchAsConfigured = () => {
    const wanted = supervisor.config.global.watch && !supervisor.config.source.startsWith("<") && !stopping;
    if (wanted && !watcher) watcher = watchConfig(supervisor.config.source, () => void reload("file changed"));
    if (!wanted && watcher) {
      watcher.close();
      watcher = null;
    }
  };
  const reload = (why: string, read?: () => Config): Promise<ReloadResult> => {
    if (!ready) {
      logger.warn("reload ignored: still starting", { trigger: why });
      return Promise.resolve({ ok: false, error: "still starting" });
    }
    logger.info("reload requested", { trigger: why });
    return supervisor.reload(read);
  };
  // The state file: read before the Supervisor, so the first snapshot already has what it kept.
  const saved = config.global.stateFile ? readStateFile(config.global.stateFile, logger) : null;
  const writers = new Map<string, StateWriter>();
  const saveState = () => {
    if (handedOver) return; // the new process owns the file now
    const path = supervisor.config.global.stateFile;
    if (!path) return;
    if (!writers.has(path)) writers.set(path, new StateWriter(path, logger));
    writers.get(path)!.schedule(() => ({ version: 1, written: new Date().toISOString(), health: supervisor.health.saved(), servers: supervisor.servers.save() }));
  };
  const supervisor: Supervisor = new Supervisor({
    config,
    logger,
    ...(saved ? { restore: saved.servers } : {}),
    onServersChanged: (result) => void (result.ok && saveState()),
    ...(handoff ? { inheritedPorts: handoff.ports.listeners } : {}),
    spawn: options.spawnWorker,
    memory: allocateShared(config),
    health: (c, events) => new HealthMonitor(c, logger, events),
    ...(options.workerLog ? { workerLog: options.workerLog } : {}),
    ...(options.onWorkerLog ? { onWorkerLog: options.onWorkerLog } : {}),
    ...(options.onSessions ? { onSessions: options.onSessions } : {}),
    // Every reload (SIGHUP, the admin API, the file watch) goes through these. systemd shows
    // "reloading" until READY=1 comes back, whether the new file was taken or not.
    onReloadStart: () => notify(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`),
    onReloadEnd: (result) => {
      if (result.ok) warnAboutConfig(logger, supervisor.config);
      if (result.ok) saveState();
      if (result.ok) discovery.sync(supervisor.config);
      logger.setLevel(supervisor.config.global.logLevel);
      logger.setFormat(supervisor.config.global.logFormat);
      watchAsConfigured();
      notify("READY=1");
      options.onReload?.(result);
    },
  });

  const discovery = new DiscoveryManager(supervisor, logger);
  if (saved) supervisor.health.restore(saved.health);
  // Every state or weight change (the listener is carried over to each reload's new monitor).
  supervisor.health.onChange(saveState);
  const changes = new ChangeLog();
  changes.follow(supervisor.health);

  let http: Server<undefined> | null = null;
  let expiryCheck: ReturnType<typeof setInterval> | undefined;

  // In-place upgrade (SIGUSR2, POST /api/upgrade): the binary on disk now starts on our ports, and
  // once it serves, this process stops accepting and drains like a SIGTERM, without the STOPPING=1.
  const upgrader = options.upgrade ? new Upgrader({
    logger,
    ports: () => ({ listeners: supervisor.listenerPorts(), metrics: http?.port ?? null }),
    beforeSpawn: () => {
      for (const w of writers.values()) w.flush(); // the new process reads the state file at start
    },
    handOver: (newPid) => {
      handedOver = true;
      // systemd follows the new process from here (NotifyAccess=main: only we, the main process, may say so).
      notify(`MAINPID=${newPid}\nSTATUS=upgraded: pid ${newPid} serves, pid ${process.pid} drains`);
      // Scrapes and admin calls go to the new process alone (two processes' counters under one
      // address would look like resets to Prometheus); answers in flight, this one included, finish.
      // At once, not a tick later: a caller that saw our hand-over log line (or the new process's
      // ready) and asks again must not land on us (a 409 "already handed over").
      http?.stop(false);
      options.upgrade!.onHandedOver();
    },
  }) : null;
  supervisor.upgrade = (trigger) => {
    // A library's host program is not aegis's to re-exec: it restarts itself when it wants a new aegis.
    if (!upgrader) return Promise.resolve({ ok: false, status: 409, error: "aegis runs as a library in this program: an upgrade in place would start the program anew, so restart it instead" });
    if (!ready) return Promise.resolve({ ok: false, status: 503, error: "still starting" });
    if (config.source.startsWith("<")) return Promise.resolve({ ok: false, status: 409, error: `the ${config.source} configuration has no file for a new process to start from` });
    return upgrader.start(trigger);
  };

  const start = async (): Promise<Ready> => {
    const asRoot = options.service && !config.source.startsWith("<") ? rootWarning() : null;
    if (asRoot) logger.warn(asRoot);
    warnAboutConfig(logger, config);
    const fds = descriptorWarning(config);
    if (fds) logger.warn("max_connections does not fit the open-file limit", fds);
    let info: Ready;
    try {
      // Before the Workers: a busy metrics address fails the start before any listener accepts.
      if (config.metrics.listen) {
        // A metrics port configured as 0 stays the one the old process was given.
        const from = handoff?.ports.metrics ?? null;
        const listen = from !== null && config.metrics.listen.port === 0 ? { ...config.metrics.listen, port: from } : config.metrics.listen;
        http = startHttpServer(listen, supervisor, changes, from !== null && listen.port === from);
      }
      const started = await supervisor.start();
      const metrics = http ? formatAddress({ host: config.metrics.listen!.host, port: http.port! }) : null;
      info = { listeners: started.listeners, metrics, workers: started.workers };
      ready = true;
      const listeners = info.listeners.map(({ name, address }) => ({ name, address }));
      logger.info("ready", { config: config.source, pid: process.pid, listeners, metrics, workers: info.workers, ...(handoff ? { upgraded_from: handoff.from } : {}) });
      // Type=notify: `systemctl start` returns only now, when every listener accepts in every Worker.
      // After an upgrade the old process, still the main one, hands MAINPID over instead.
      if (handoff) await reportHandoff({ type: "ready", pid: process.pid });
      else notify(`READY=1\nSTATUS=serving ${info.listeners.map((l) => l.address).join(", ")}\nMAINPID=${process.pid}`);
    } catch (err) {
      (http as Server<undefined> | null)?.stop(true);
      http = null;
      logger.error("could not start", { error: (err as Error).message });
      logger.flush();
      if (handoff) await reportHandoff({ type: "failed", error: (err as Error).message });
      throw err;
    }
    watchAsConfigured();
    // After the Workers listen: a change a source finds swaps servers through them.
    discovery.sync(supervisor.config);
    supervisor.discovery = discovery;
    logger.flush();
    // A certificate comes within 14 days of its end while aegis runs too: look again once a day.
    expiryCheck = setInterval(() => {
      for (const warning of tlsWarnings(supervisor.config)) logger.warn("config warning", { warning });
    }, 86_400_000);
    expiryCheck.unref();
    return info;
  };

  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => (stopped ??= (async () => {
    stopping = true;
    upgrader?.close();
    clearInterval(expiryCheck);
    if (!handedOver) notify("STOPPING=1\nSTATUS=draining sessions");
    watchAsConfigured(); // stopping: closes the watcher
    discovery.stop();
    // /metrics and the status page stay up until the last session ends, so the drain can be watched.
    await supervisor.shutdown();
    await upgrader?.idle(); // an upgrade that a stop overtook: its new process is stopped first
    http?.stop(true);
    if (!handedOver) for (const w of writers.values()) w.flush();
    logger.info("stopped");
    logger.flush();
  })());

  const closeNow = (): Promise<void> => {
    stopping = true;
    return supervisor.closeNow();
  };

  return {
    supervisor, changes, start, reload, stop, closeNow,
    refuseUpgrades: () => upgrader?.close(),
    get handedOver() {
      return handedOver;
    },
  };
}

/** The CLI's run: the main thread wired to signals and systemd until SIGTERM or SIGINT; the exit code. */
export async function runProxy(
  config: Config,
  logger: Logger,
  spawnWorker: () => Worker,
  onReady?: (info: Ready) => void,
): Promise<number> {
  // Started by an upgrade: bind the old process's ports beside it, and tell it when ready.
  const handoff = upgradeHandoff();
  const proxy: MainThread = createMainThread(config, { logger, spawnWorker, service: true, upgrade: { handoff, onHandedOver: () => onStop("upgrade") } });
  let stopping = false;
  let exitingNow = false;
  let drainSignalled = false;
  // Handlers go in before anything listens: Workers relay before "ready" is logged, and a SIGTERM
  // in that window must still drain rather than kill the process by the default action.
  let signalled: (signal: string) => void = () => {};
  const stopRequested = new Promise<string>((resolve) => (signalled = resolve));
  const onStop = (signal: string) => {
    proxy.refuseUpgrades();
    // `systemctl stop` signals every process of the unit: one that handed over keeps draining.
    if (stopping && proxy.handedOver && !drainSignalled && signal !== "upgrade") {
      drainSignalled = true;
      return logger.info("signal received, already draining after an upgrade", { signal });
    }
    if (stopping) {
      if (exitingNow) return; // a third signal: the Workers are already being closed
      exitingNow = true;
      logger.warn("second signal, exiting now", { signal });
      // Workers end their sessions first (resets where bytes were unsent): exiting under them would
      // let the kernel send FINs, and a truncated stream would look complete. Bounded: a few seconds.
      void proxy.closeNow().finally(() => {
        logger.flush();
        process.exit(1);
      });
      return;
    }
    stopping = true;
    logger.info("signal received", { signal });
    signalled(signal);
  };
  process.on("SIGTERM", () => onStop("SIGTERM"));
  process.on("SIGINT", () => onStop("SIGINT"));
  process.on("SIGHUP", () => void proxy.reload("SIGHUP"));
  process.on("SIGUSR2", () => void proxy.supervisor.upgrade?.("SIGUSR2"));

  let info: Ready;
  try {
    info = await proxy.start();
  } catch {
    return 1; // logged by start
  }
  onReady?.(info);
  // The start-up burst (Workers compiling and binding) is over a moment after ready: only then are
  // the pages it alone touched worth giving back (src/os/page-out.ts).
  setTimeout(() => {
    const out = pageOutExecutable();
    if (out) logger.debug("start-up pages of the executable given back", { resident_before: out.residentBefore, resident_after: out.residentAfter });
  }, PAGE_OUT_AFTER_READY_MS).unref();
  await stopRequested;
  await proxy.stop();
  return 0;
}

/** How long after ready the executable's start-up pages are given back. */
const PAGE_OUT_AFTER_READY_MS = 3_000;

/** sd_notify when started by systemd (NOTIFY_SOCKET set); a failure is logged, never fatal. */
function notifySystemd(logger: Logger, state: string): void {
  const failure = sdNotify(state);
  if (failure) logger.warn("cannot notify systemd", { error: failure });
}

/** CLOCK_MONOTONIC in microseconds, which RELOADING=1 carries (sd_notify(3)). */
function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/**
 * Combinations the algorithms cannot honour (see balancing/warnings.ts), which load and work but
 * not as written, and certificates near their end (config/tls-report.ts).
 */
function warnAboutConfig(logger: Logger, config: Config): void {
  for (const warning of [...balanceWarnings(config), ...tlsWarnings(config), ...metricsWarnings(config)]) logger.warn("config warning", { warning });
}
