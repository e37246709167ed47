// Command-line parsing: `aegis [command] [--config PATH] [--help] [--version]`, strict about unknowns.

export const COMMANDS = ["run", "check", "demo", "init", "service", "schema", "help", "version"] as const;
/** Commands that parse their own options: everything after the command name goes to `rest`. */
const OWN_OPTIONS: readonly Command[] = ["init", "service"];
export type Command = (typeof COMMANDS)[number];

export interface Args {
  command: Command;
  config: string | null;
  /** For `aegis help <command>`. */
  topic: string | null;
  /** The arguments after `init` or `service`, for their own parsers. */
  rest: string[];
}

export class UsageError extends Error {}

export function parseArgs(argv: readonly string[]): Args {
  const args: Args = { command: "run", config: null, topic: null, rest: [] };
  let commandSeen = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--help" || arg === "-h") {
      args.topic = commandSeen ? args.command : null;
      args.rest = [];
      args.command = "help";
      return args;
    }
    if (commandSeen && OWN_OPTIONS.includes(args.command)) {
      args.rest.push(arg);
      continue;
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
        throw new UsageError(`unknown command "${arg}"`);
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
