// The main thread's composition root: builds the shared memory, the supervisor, the health monitors
// and the HTTP server, and wires them to the process: signals, sd_notify, reload triggers (SIGHUP,
// the admin API, the file watch) and readiness. Runs a config until a signal.
import type { Server } from "bun";
import { startHttpServer } from "./admin/server.ts";
import { rootWarning } from "./cli/service/root-warning.ts";
import { formatAddress } from "./config/address.ts";
import type { Config } from "./config/types.ts";
import { watchConfig } from "./control/config-watch.ts";
import { sdNotify } from "./control/sd-notify.ts";
import { allocateShared } from "./control/slots.ts";
import { Supervisor, type ReadyInfo } from "./control/supervisor.ts";
import { descriptorWarning } from "./os/descriptors.ts";
import { balanceWarnings } from "./balancing/warnings.ts";
import { tlsWarnings } from "./config/tls-report.ts";
import { metricsWarnings } from "./config/metrics-warnings.ts";
import { HealthMonitor } from "./health/monitor.ts";
import { DiscoveryManager } from "./control/discovery.ts";
import { readStateFile, StateWriter } from "./control/state-file.ts";
import type { Logger } from "./telemetry/log.ts";
import { reportHandoff, upgradeHandoff } from "./control/upgrade-handoff.ts";
import { Upgrader } from "./control/upgrade.ts";

/** What "ready" reports: every listener's address, the HTTP server's (null when off), the Workers. */
export interface Ready extends ReadyInfo {
  metrics: string | null;
}

export async function runProxy(
  config: Config,
  logger: Logger,
  spawnWorker: () => Worker,
  onReady?: (info: Ready) => void,
): Promise<number> {
  let ready = false;
  let stopping = false;
  let exitingNow = false;
  /** Another process serves now (an upgrade): this one only drains, and writes no state file. */
  let handedOver = false;
  let drainSignalled = false;
  // Started by an upgrade: bind the old process's ports beside it, and tell it when ready.
  const handoff = upgradeHandoff();
  const reload = (why: string) => {
    if (!ready) return logger.warn("reload ignored: still starting", { trigger: why });
    logger.info("reload requested", { trigger: why });
    void supervisor.reload();
  };
  // `watch = true` watches the file; a reload can turn it on or off.
  let watcher: { close(): void } | null = null;
  const watchAsConfigured = () => {
    const wanted = supervisor.config.global.watch && !supervisor.config.source.startsWith("<") && !stopping;
    if (wanted && !watcher) watcher = watchConfig(supervisor.config.source, () => reload("file changed"));
    if (!wanted && watcher) {
      watcher.close();
      watcher = null;
    }
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
    spawn: spawnWorker,
    memory: allocateShared(config),
    health: (c, events) => new HealthMonitor(c, logger, events),
    // Every reload (SIGHUP, the admin API, the file watch) goes through these. systemd shows
    // "reloading" until READY=1 comes back, whether the new file was taken or not.
    onReloadStart: () => notify(logger, `RELOADING=1\nMONOTONIC_USEC=${monotonicUsec()}`),
    onReloadEnd: (result) => {
      if (result.ok) warnAboutConfig(logger, supervisor.config);
      if (result.ok) saveState();
      if (result.ok) discovery.sync(supervisor.config);
      logger.setLevel(supervisor.config.global.logLevel);
      logger.setFormat(supervisor.config.global.logFormat);
      watchAsConfigured();
      notify(logger, "READY=1");
    },
  });

  const discovery = new DiscoveryManager(supervisor, logger);
  if (saved) supervisor.health.restore(saved.health);
  // Every state or weight change (the listener is carried over to each reload's new monitor).
  supervisor.health.onChange(saveState);

  // Handlers go in before anything listens: Workers relay before "ready" is logged, and a SIGTERM
  // in that window must still drain rather than kill the process by the default action.
  let signalled: (signal: string) => void = () => {};
  const stopRequested = new Promise<string>((resolve) => (signalled = resolve));
  const onStop = (signal: string) => {
    upgrader.close();
    // `systemctl stop` signals every process of the unit: one that handed over keeps draining.
    if (stopping && handedOver && !drainSignalled && signal !== "upgrade") {
      drainSignalled = true;
      return logger.info("signal received, already draining after an upgrade", { signal });
    }
    if (stopping) {
      if (exitingNow) return; // a third signal: the Workers are already being closed
      exitingNow = true;
      logger.warn("second signal, exiting now", { signal });
      // Workers end their sessions first (resets where bytes were unsent): exiting under them would
      // let the kernel send FINs, and a truncated stream would look complete. Bounded: a few seconds.
      void supervisor.closeNow().finally(() => {
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
  process.on("SIGHUP", () => reload("SIGHUP"));

  // In-place upgrade (SIGUSR2, POST /api/upgrade): the binary on disk now starts on our ports, and
  // once it serves, this process stops accepting and drains like a SIGTERM, without the STOPPING=1.
  const upgrader = new Upgrader({
    logger,
    ports: () => ({ listeners: supervisor.listenerPorts(), metrics: http?.port ?? null }),
    beforeSpawn: () => {
      for (const w of writers.values()) w.flush(); // the new process reads the state file at start
    },
    handOver: (newPid) => {
      handedOver = true;
      // systemd follows the new process from here (NotifyAccess=main: only we, the main process, may say so).
      notify(logger, `MAINPID=${newPid}\nSTATUS=upgraded: pid ${newPid} serves, pid ${process.pid} drains`);
      // Scrapes and admin calls go to the new process alone (two processes' counters under one
      // address would look like resets to Prometheus); answers in flight, this one included, finish.
      // At once, not a tick later: a caller that saw our hand-over log line (or the new process's
      // ready) and asks again must not land on us (a 409 "already handed over").
      http?.stop(false);
      onStop("upgrade");
    },
  });
  supervisor.upgrade = (trigger) => {
    if (!ready) return Promise.resolve({ ok: false, status: 503, error: "still starting" });
    if (config.source.startsWith("<")) return Promise.resolve({ ok: false, status: 409, error: `the ${config.source} configuration has no file for a new process to start from` });
    return upgrader.start(trigger);
  };
  process.on("SIGUSR2", () => void supervisor.upgrade?.("SIGUSR2"));

  const asRoot = config.source.startsWith("<") ? null : rootWarning();
  if (asRoot) logger.warn(asRoot);
  warnAboutConfig(logger, config);
  const fds = descriptorWarning(config);
  if (fds) logger.warn("max_connections does not fit the open-file limit", fds);

  let http: Server<undefined> | null = null;
  try {
    // Before the Workers: a busy metrics address fails the start before any listener accepts.
    if (config.metrics.listen) {
      // A metrics port configured as 0 stays the one the old process was given.
      const from = handoff?.ports.metrics ?? null;
      const listen = from !== null && config.metrics.listen.port === 0 ? { ...config.metrics.listen, port: from } : config.metrics.listen;
      http = startHttpServer(listen, supervisor, from !== null && listen.port === from);
    }
    const started = await supervisor.start();
    const metrics = http ? formatAddress({ host: config.metrics.listen!.host, port: http.port! }) : null;
    const info: Ready = { listeners: started.listeners, metrics, workers: started.workers };
    ready = true;
    logger.info("ready", { config: config.source, pid: process.pid, ...info, ...(handoff ? { upgraded_from: handoff.from } : {}) });
    // Type=notify: `systemctl start` returns only now, when every listener accepts in every Worker.
    // After an upgrade the old process, still the main one, hands MAINPID over instead.
    if (handoff) await reportHandoff({ type: "ready", pid: process.pid });
    else notify(logger, `READY=1\nSTATUS=serving ${info.listeners.map((l) => l.address).join(", ")}\nMAINPID=${process.pid}`);
    onReady?.(info);
  } catch (err) {
    http?.stop(true);
    logger.error("could not start", { error: (err as Error).message });
    logger.flush();
    await reportHandoff({ type: "failed", error: (err as Error).message });
    return 1;
  }
  watchAsConfigured();
  // After the Workers listen: a change a source finds swaps servers through them.
  discovery.sync(supervisor.config);
  supervisor.discovery = discovery;
  logger.flush();
  // A certificate comes within 14 days of its end while aegis runs too: look again once a day.
  const expiryCheck = setInterval(() => {
    for (const warning of tlsWarnings(supervisor.config)) logger.warn("config warning", { warning });
  }, 86_400_000);
  expiryCheck.unref();

  await stopRequested;
  clearInterval(expiryCheck);
  if (!handedOver) notify(logger, "STOPPING=1\nSTATUS=draining sessions");
  watchAsConfigured(); // stopping: closes the watcher
  discovery.stop();
  // /metrics and the status page stay up until the last session ends, so the drain can be watched.
  await supervisor.shutdown();
  await upgrader.idle(); // an upgrade that a stop overtook: its new process is stopped first
  http?.stop(true);
  if (!handedOver) for (const w of writers.values()) w.flush();
  logger.info("stopped");
  logger.flush();
  return 0;
}

/** sd_notify when started by systemd (NOTIFY_SOCKET set); a failure is logged, never fatal. */
function notify(logger: Logger, state: string): void {
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
