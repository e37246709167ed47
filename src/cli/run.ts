// Runs a config until a signal: starts the supervisor, logs readiness, handles SIGTERM/SIGINT/SIGHUP.
import type { Config } from "../config/types.ts";
import { Supervisor, type ReadyInfo } from "../control/supervisor.ts";
import type { Logger } from "../telemetry/log.ts";

export async function runProxy(
  config: Config,
  logger: Logger,
  spawnWorker: () => Worker,
  onReady?: (info: ReadyInfo) => void,
): Promise<number> {
  const supervisor = new Supervisor(config, logger, spawnWorker);
  let info: ReadyInfo;
  try {
    info = await supervisor.start();
  } catch (err) {
    logger.error("could not start", { error: (err as Error).message });
    logger.flush();
    return 1;
  }
  logger.info("ready", { config: config.source, pid: process.pid, ...info });
  onReady?.(info);
  logger.flush();

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        logger.warn("second signal, exiting now", { signal });
        logger.flush();
        process.exit(1);
      }
      stopping = true;
      logger.info("signal received", { signal });
      supervisor.shutdown().then(() => {
        logger.info("stopped");
        logger.flush();
        resolve(0);
      });
    };
    process.on("SIGTERM", () => stop("SIGTERM"));
    process.on("SIGINT", () => stop("SIGINT"));
    // Without a handler SIGHUP would kill the proxy; live reload is not in this version.
    process.on("SIGHUP", () => logger.warn("SIGHUP ignored: configuration reload is not supported yet; restart to apply changes"));
  });
}
