// Worker entry point: owns one data plane; the main thread starts, drains and closes it by message.
import type { FromWorker, ToWorker } from "./control/messages.ts";
import { DataPlane } from "./data/plane.ts";
import { Logger } from "./telemetry/log.ts";

declare const self: Worker;

let plane: DataPlane | null = null;
let workerIndex = -1;
let logger = new Logger("info");

function send(message: FromWorker): void {
  self.postMessage(message);
}

function exit(code: number): void {
  logger.flush();
  process.exit(code);
}

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  switch (message.type) {
    case "start": {
      workerIndex = message.worker;
      logger = new Logger(message.config.global.logLevel, { worker: message.worker }, message.config.global.logFormat);
      try {
        plane = new DataPlane({
          config: message.config, slots: message.slots, worker: message.worker, sab: message.sab, logger,
          onServerFailure: (upstream, server) => send({ type: "server_failure", upstream, server }),
        });
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
      if (!plane) return exit(0);
      plane.drain(() => {
        send({ type: "drained", worker: workerIndex });
        exit(0);
      });
      return;
    }
    case "reload": {
      if (!plane) return;
      try {
        const addresses = plane.reload(message.config, message.slots, message.ports);
        message.snapshots.forEach((states, upstream) => plane!.applySnapshot(upstream, states, message.weights?.[upstream]));
        logger.setLevel(message.config.global.logLevel);
        logger.setFormat(message.config.global.logFormat);
        send({ type: "reloaded", worker: workerIndex, addresses });
      } catch (err) {
        send({ type: "reload_failed", worker: workerIndex, error: (err as Error).message });
      }
      return;
    }
    case "servers":
      plane?.applySnapshot(message.upstream, message.states, message.weights);
      return;
    case "close": {
      plane?.closeAll();
      exit(0);
    }
  }
};
