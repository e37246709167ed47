// aegis entry point: parses the command line and runs the command; `run` and `demo` hand the config to
// the main thread's composition root (src/main-thread.ts).
import { takeEarlyWorker } from "./early-worker.ts"; // first: starts the first Worker as early as possible
import { existsSync } from "node:fs";
import { parseArgs, UsageError, type Args } from "./cli/args.ts";
import { demoAddresses, demoBanner, startDemo } from "./cli/demo.ts";
import { helpText } from "./cli/help.ts";
import { COMMAND_NAMES } from "./cli/commands.ts";
import { closest } from "./config/suggest.ts";
import { ConfigError } from "./config/errors.ts";
import { loadConfigFile } from "./config/load.ts";
import { summarizeConfig } from "./config/summary.ts";
import { balanceWarnings } from "./balancing/warnings.ts";
import { describeTls, tlsWarnings } from "./config/tls-report.ts";
import { metricsWarnings } from "./config/metrics-warnings.ts";
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

/** -c, check's FILE argument, else the first default that exists. */
function findConfig(args: Args): string | null {
  if (args.config) return args.config;
  if (args.command === "check" && args.positionals[0]) return args.positionals[0];
  return DEFAULT_CONFIGS.find((path) => existsSync(path)) ?? null;
}

const NO_CONFIG = `aegis: no config file: looked for ${DEFAULT_CONFIGS.join(" and ")}.`;

/** `failed`: told why a config could not be loaded (an upgrade's old process waits for that answer). */
function loadOrExplain(args: Args, failed: (error: string) => void = () => {}): Config | number {
  const path = findConfig(args);
  if (!path) {
    failed(`no config file: looked for ${DEFAULT_CONFIGS.join(" and ")}`);
    console.error(`${NO_CONFIG}
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
    console.error(`aegis: ${err.message}\nRun \`aegis ${err.command ? `help ${err.command}` : "--help"}\` for usage.`);
    return 2;
  }
  if (args.command === "check" && args.config && args.positionals[0] && args.config !== args.positionals[0]) {
    console.error(`aegis: check: two files given (${args.positionals[0]} and -c ${args.config}): give one`);
    return 2;
  }

  switch (args.command) {
    case "help": {
      const text = helpText(args.topic);
      if (text === null) {
        const hit = closest(args.topic ?? "", COMMAND_NAMES);
        console.error(`aegis: no help for "${args.topic}"${hit ? ` (did you mean "${hit}"?)` : ""}: the commands are ${COMMAND_NAMES.join(", ")}`);
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
      for (const warning of [...balanceWarnings(config), ...tlsWarnings(config), ...metricsWarnings(config)]) console.log(`warning: ${warning}`);
      console.log(`\nconfig ${config.source} is valid`);
      return 0;
    }
    case "demo": {
      const spawn = eagerSpawner();
      let at;
      try {
        at = demoAddresses(args.options);
      } catch (err) {
        if (!(err instanceof UsageError)) throw err;
        console.error(`aegis: demo: ${err.message}\nRun \`aegis help demo\` for usage.`);
        return 2;
      }
      const demo = startDemo(navigator.hardwareConcurrency || 1, at);
      const logger = new Logger(demo.config.global.logLevel);
      let started = false;
      const code = await runProxy(demo.config, logger, spawn, (ready) => {
        started = true;
        console.error(demoBanner(ready.listeners[0]!.address, ready.metrics));
      });
      if (!started && code === 1) console.error("aegis: the demo could not start (the error is above); when a port is taken, move it: aegis demo --port-base 9000");
      demo.stop();
      return code;
    }
    case "status":
    case "reload":
    case "drain":
    case "enable":
    case "upgrade": {
      const configPath = findConfig(args);
      if (!configPath) {
        console.error(`${NO_CONFIG}\nPass -c FILE: the running aegis's config, which says where it listens ([metrics] listen) and its [admin] token.`);
        return 2;
      }
      const { runControl } = await import("./cli/control/commands.ts");
      return await runControl(args.command, { configPath, target: args.positionals[0], json: args.options.has("--json") });
    }
    case "completion": {
      const { completionScript } = await import("./cli/completion.ts");
      console.log(completionScript(args.positionals[0]!));
      return 0;
    }
    case "man": {
      const { manPage } = await import("./cli/man.ts");
      process.stdout.write(manPage());
      return 0;
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
