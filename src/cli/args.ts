// Command-line parsing: `aegis [command] [--config PATH] [--help] [--version]`, strict about unknowns.

export const COMMANDS = ["run", "check", "demo", "help", "version"] as const;
export type Command = (typeof COMMANDS)[number];

export interface Args {
  command: Command;
  config: string | null;
  /** For `aegis help <command>`. */
  topic: string | null;
}

export class UsageError extends Error {}

export function parseArgs(argv: readonly string[]): Args {
  const args: Args = { command: "run", config: null, topic: null };
  let commandSeen = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--help" || arg === "-h") {
      args.topic = commandSeen ? args.command : null;
      args.command = "help";
      return args;
    }
    if (arg === "--version" || arg === "-V") {
      args.command = "version";
      return args;
    }
    if (arg === "--config" || arg === "-c") {
      const value = argv[++i];
      if (value === undefined || value === "") throw new UsageError(`${arg} needs a file path`);
      args.config = value;
      continue;
    }
    if (arg.startsWith("--config=")) {
      args.config = arg.slice("--config=".length);
      if (!args.config) throw new UsageError("--config needs a file path");
      continue;
    }
    if (arg.startsWith("-")) throw new UsageError(`unknown option ${arg}`);
    if (!commandSeen) {
      if (!(COMMANDS as readonly string[]).includes(arg)) {
        throw new UsageError(arg === "init"
          ? "`aegis init` (the setup wizard) is not in this build yet: write aegis.toml by hand (see `aegis help`) or try `aegis demo`"
          : `unknown command "${arg}"`);
      }
      args.command = arg as Command;
      commandSeen = true;
      continue;
    }
    if (args.command === "help" && args.topic === null) {
      args.topic = arg;
      continue;
    }
    throw new UsageError(`unexpected argument "${arg}"`);
  }
  return args;
}
