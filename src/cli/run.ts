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
  // Handlers go in before anything listens: Workers relay before "ready" is logged, and a SIGTERM
  // in that window must still drain rather than kill the process by the default action.
  let signalled: (signal: string) => void = () => {};
  const stopRequested = new Promise<string>((resolve) => (signalled = resolve));
  let stopping = false;
  const onStop = (signal: string) => {
    if (stopping) {
      logger.warn("second signal, exiting now", { signal });
      logger.flush();
      process.exit(1);
    }
    stopping = true;
    logger.info("signal received", { signal });
    signalled(signal);
  };
  process.on("SIGTERM", () => onStop("SIGTERM"));
  process.on("SIGINT", () => onStop("SIGINT"));
  // Without a handler SIGHUP would kill the proxy; live reload is not in this version.
  process.on("SIGHUP", () => logger.warn("SIGHUP ignored: configuration reload is not supported yet; restart to apply changes"));

  const supervisor = new Supervisor(config, logger, spawnWorker);
  try {
    const info = await supervisor.start();
    logger.info("ready", { config: config.source, pid: process.pid, ...info });
    onReady?.(info);
  } catch (err) {
    logger.error("could not start", { error: (err as Error).message });
    logger.flush();
    return 1;
  }
  logger.flush();

  await stopRequested;
  await supervisor.shutdown();
  logger.info("stopped");
  logger.flush();
  return 0;
}
