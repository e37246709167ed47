// The Worker's entry point and composition root: builds the data plane, its listener gates and its
// upstreams' assigners (choosing each one's algorithm), then obeys the main thread's messages.
import { ListenerGates } from "./admission/gates.ts";
import { SharedAdmission, setThreadWorker } from "./admission/shared-region.ts";
import { BALANCERS } from "./balancing/registry.ts";
import { isMainThread } from "node:worker_threads";
import type { Config } from "./config/types.ts";
import { crashThisWorker, faultsEnabled, stallThisWorker } from "./control/faults.ts";
import type { FromWorker, StickBuffers, ToWorker } from "./control/messages.ts";
import { StickTable } from "./stick/table.ts";
import type { ListenerTalkers } from "./telemetry/top-talkers.ts";
import { DataPlane, type PlaneOptions, type PreparedReload } from "./data/plane.ts";
import { CounterLayout, type CounterSlots } from "./shared/layout.ts";
import { Logger } from "./telemetry/log.ts";
import { startHeapProbe } from "./telemetry/heap-probe.ts";
import { PostedLog } from "./telemetry/posted-log.ts";
import type { WorkerLog } from "./control/messages.ts";
import { Assigner } from "./upstream/assigner.ts";
import { QueueWaker } from "./upstream/queue-waker.ts";
import { routesFor } from "./route/routes-for.ts";

declare const self: Worker;

let plane: DataPlane | null = null;
let workerIndex = -1;
let logger = new Logger("info");
/** The reload prepared and not yet committed or aborted (one at a time: the main thread runs one reload). */
let prepared: { id: number; reload: PreparedReload } | null = null;

function send(message: FromWorker): void {
  self.postMessage(message);
}

/** Log records for the main thread, when it was started with log = "main". */
const postedLog = new PostedLog((records) => send({ type: "log", records }));
startHeapProbe(() => workerIndex); // bench/heap-per-conn.ts: nothing unless AEGIS_HEAP_PROBE is set

function exit(code: number): void {
  plane?.sessionEvents.flush();
  postedLog.flush();
  logger.flush();
  process.exit(code);
}

function abortPrepared(): void {
  if (prepared) plane?.abortReload(prepared.reload);
  prepared = null;
}

/**
 * A bug that nothing caught: reset this Worker's sessions before it goes (left to the runtime, they
 * would end with FINs, and a cut-off stream would look complete), then exit for the main thread
 * to give back its places and start another.
 */
function crashed(err: unknown): void {
  logger.error("worker crashed, resetting its sessions", { error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  try {
    plane?.resetAll();
  } finally {
    exit(70);
  }
}
/** The Worker's logger: stdout as the CLI writes it, records for the main thread, or silence. */
function workerLogger(config: Config, worker: number, log: WorkerLog): Logger {
  if (log === "off") return Logger.silent();
  return new Logger(config.global.logLevel, { worker }, config.global.logFormat, log === "main" ? postedLog.sink : null);
}

/** What a plane is built from: the start message's fields (tests build planes in-process from the same). */
export interface PlaneStart {
  config: Config;
  slots: CounterSlots;
  worker: number;
  sab: SharedArrayBuffer;
}

/** Everything one Worker runs, wired: the shared admission state, gates, assigners, routes and the plane. */
export function buildPlane(
  start: PlaneStart,
  logger: Logger,
  onServerFailure: (upstream: number, server: number) => void,
  routes: typeof routesFor = routesFor,
  postTalkers?: (listeners: ListenerTalkers[]) => void,
  postSessions?: PlaneOptions["postSessions"],
): DataPlane {
  const layout = new CounterLayout(start.slots, start.config.global.workers);
  const shared = new SharedAdmission(start.sab, layout.admissionOffset, layout.slots.serverCapacity, layout.workers);
  const places = { shared, waker: new QueueWaker(shared), worker: start.worker };
  return new DataPlane({
    config: start.config, slots: start.slots, worker: start.worker, sab: start.sab, logger, onServerFailure,
    gates: new ListenerGates(shared),
    assigner: (index, upstream, env) => new Assigner(index, upstream, BALANCERS[upstream.balance], env, places),
    routes,
    postTalkers,
    postSessions,
  });
}

/** This Worker's views of the shared stick tables, one per buffer (a reload that keeps a table keeps its view). */
const stickViews = new WeakMap<SharedArrayBuffer, StickTable>();
function stickTables(buffers: StickBuffers | undefined): Map<string, StickTable> {
  return new Map(Object.entries(buffers ?? {}).map(([name, sab]) => {
    let view = stickViews.get(sab);
    if (!view) stickViews.set(sab, (view = new StickTable(sab)));
    return [name, view];
  }));
}

/** The main thread's messages, one at a time. */
function obey(event: MessageEvent<ToWorker>): void {
  const message = event.data;
  switch (message.type) {
    case "start": {
      workerIndex = message.worker;
      setThreadWorker(message.worker); // before the plane builds its admission: per-IP counts are recorded as this Worker's
      logger = workerLogger(message.config, message.worker, message.log ?? "stdout");
      try {
        const worker = message.worker;
        plane = buildPlane(message, logger, (upstream, server) => send({ type: "server_failure", upstream, server }), routesFor, (listeners) => send({ type: "talkers", worker, listeners }), (records) => send({ type: "sessions", worker, records }));
        plane.sessionEvents.set(message.sessionEvents === true);
        plane.stickTables = stickTables(message.sticks);
        const addresses = plane.start(message.ports);
        // A restarted Worker must not send traffic to servers already known to be down. Applied in
        // the same turn as the bind, so no connection is accepted before it.
        message.snapshots.forEach((states, upstream) => plane!.applySnapshot(upstream, states, message.weights?.[upstream]));
        send({ type: "listening", worker: message.worker, addresses });
      } catch (err) {
        send({ type: "failed", worker: message.worker, error: (err as Error).message });
        exit(1);
      }
      return;
    }
    case "drain": {
      abortPrepared();
      if (!plane) return exit(0);
      plane.drain(() => {
        send({ type: "drained", worker: workerIndex });
        exit(0);
      });
      return;
    }
    case "reload_prepare": {
      const { id } = message;
      if (!plane) return send({ type: "reload_failed", worker: workerIndex, id, error: "the Worker has not started" });
      abortPrepared();
      try {
        plane.stickTables = stickTables(message.sticks); // read by the assigners the reload builds
        prepared = { id, reload: plane.prepareReload(message.config, message.slots, message.ports) };
        send({ type: "prepared", worker: workerIndex, id, addresses: prepared.reload.addresses });
      } catch (err) {
        send({ type: "reload_failed", worker: workerIndex, id, error: (err as Error).message });
      }
      return;
    }
    case "reload_commit": {
      const { id } = message;
      if (!plane || prepared?.id !== id) {
        return send({ type: "reload_failed", worker: workerIndex, id, error: `reload ${id} was not prepared here (aborted by a drain?)` });
      }
      plane.commitReload(prepared.reload);
      prepared = null;
      message.snapshots.forEach((states, upstream) => plane!.applySnapshot(upstream, states, message.weights?.[upstream]));
      logger.setLevel(plane.config.global.logLevel);
      logger.setFormat(plane.config.global.logFormat);
      send({ type: "committed", worker: workerIndex, id, seq: message.seq });
      return;
    }
    case "reload_abort": {
      if (prepared?.id === message.id) abortPrepared();
      send({ type: "aborted", worker: workerIndex, id: message.id });
      return;
    }
    case "servers":
      plane?.applySnapshot(message.upstream, message.states, message.weights);
      send({ type: "applied", worker: workerIndex, seq: message.seq });
      return;
    case "session_events":
      plane?.sessionEvents.set(message.on);
      return;
    case "fault":
      if (!faultsEnabled()) return;
      if (message.fault.kind === "crash") crashThisWorker(workerIndex);
      else stallThisWorker(message.fault.ms);
      return;
    case "close": {
      plane?.closeAll();
      exit(0);
    }
  }
}

// Imported by a test on the main thread, this module only lends `buildPlane`.
if (!isMainThread) {
  process.on("uncaughtException", crashed);
  process.on("unhandledRejection", crashed);
  self.onmessage = obey;
}
