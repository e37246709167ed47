// aegis entry point: parses the command line and runs the command; `run` and `demo` hand the config to
// the main thread's composition root (src/main-thread.ts).
import { takeEarlyWorker } from "./early-worker.ts"; // first: starts the first Worker as early as possible
import { existsSync } from "node:fs";
import { parseArgs, UsageError, type Args } from "./cli/args.ts";
import { startDemo, DEMO_LISTEN, DEMO_METRICS } from "./cli/demo.ts";
import { helpText } from "./cli/help.ts";
import { formatAddress } from "./config/address.ts";
import { ConfigError } from "./config/errors.ts";
import { loadConfigFile } from "./config/load.ts";
import { summarizeConfig } from "./config/summary.ts";
import { balanceWarnings } from "./balancing/warnings.ts";
import { describeTls, tlsWarnings } from "./config/tls-report.ts";
import type { Config } from "./config/types.ts";
import { runProxy } from "./main-thread.ts";
import { reportHandoff } from "./control/upgrade-handoff.ts";
import { Logger } from "./telemetry/log.ts";
import { VERSION, versionText } from "./version.ts";

/** Spawns a data-plane Worker; the URL form is what `bun build --compile` embeds. */
const spawnWorker = () => new Worker(new URL("./worker.ts", import.meta.url).href);

/** A spawner whose first Worker is the one already loading since start-up. */
function eagerSpawner(): () => Worker {
  return () => takeEarlyWorker() ?? spawnWorker();
}

const DEFAULT_CONFIGS = ["./aegis.toml", "/etc/aegis/aegis.toml"];

function findConfig(args: Args): string | null {
  if (args.config) return args.config;
  return DEFAULT_CONFIGS.find((path) => existsSync(path)) ?? null;
}

/** `failed`: told why a config could not be loaded (an upgrade's old process waits for that answer). */
function loadOrExplain(args: Args, failed: (error: string) => void = () => {}): Config | number {
  const path = findConfig(args);
  if (!path) {
    failed(`no config file: looked for ${DEFAULT_CONFIGS.join(" and ")}`);
    console.error(`aegis: no config file: looked for ${DEFAULT_CONFIGS.join(" and ")}.
Run \`aegis init\` to write one by answering a few questions, pass --config PATH, or try \`aegis demo\` for a working demonstration.`);
    return 2;
  }
  try {
    return loadConfigFile(path);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    failed(`invalid config\n${err.message}`);
    console.error(`aegis: invalid config\n${err.message}`);
    return 2;
  }
}

async function main(argv: string[]): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`aegis: ${err.message}\nRun \`aegis --help\` for usage.`);
    return 2;
  }

  switch (args.command) {
    case "help": {
      const text = helpText(args.topic);
      if (text === null) {
        console.error(`aegis: no help for "${args.topic}"`);
        return 2;
      }
      console.log(text);
      return 0;
    }
    case "version":
      console.log(versionText());
      return 0;
    // Loaded on demand, so the proxy's start-up never pays for the wizard and its prompt library.
    case "init": {
      const { runInit, realInitDeps } = await import("./cli/init/command.ts");
      const { runService } = await import("./cli/service/command.ts");
      return await runInit(args.rest, realInitDeps((config) => runService(["install", "--config", config, "--now"])));
    }
    case "service": {
      const { runService } = await import("./cli/service/command.ts");
      return await runService(args.rest);
    }
    case "schema": {
      const { configJsonSchema } = await import("./config/json-schema.ts");
      console.log(JSON.stringify(configJsonSchema(VERSION), null, 2));
      return 0;
    }
    case "check": {
      const config = loadOrExplain(args);
      if (typeof config === "number") return config;
      console.log(summarizeConfig(config));
      const tls = describeTls(config);
      if (tls.length > 0) console.log(`\nTLS:\n${tls.map((l) => `  ${l}`).join("\n")}`);
      for (const warning of [...balanceWarnings(config), ...tlsWarnings(config)]) console.log(`warning: ${warning}`);
      console.log(`\nconfig ${config.source} is valid`);
      return 0;
    }
    case "demo": {
      const spawn = eagerSpawner();
      const demo = startDemo(navigator.hardwareConcurrency || 1);
      const logger = new Logger(demo.config.global.logLevel);
      const code = await runProxy(demo.config, logger, spawn, () => {
        console.error(`\naegis demo is running: three echo servers behind ${formatAddress(DEMO_LISTEN)}.
  Try:      nc ${DEMO_LISTEN.host} ${DEMO_LISTEN.port}        (each line comes back; reconnect to meet another server)
  Metrics:  curl http://${formatAddress(DEMO_METRICS)}/metrics
  Stop:     Ctrl-C\n`);
      });
      demo.stop();
      return code;
    }
    case "run": {
      const spawn = eagerSpawner();
      let why = "";
      const config = loadOrExplain(args, (error) => (why = error));
      if (typeof config === "number") {
        await reportHandoff({ type: "failed", error: why });
        return config;
      }
      return await runProxy(config, new Logger(config.global.logLevel, {}, config.global.logFormat), spawn);
    }
  }
}

process.exit(await main(process.argv.slice(2)));
