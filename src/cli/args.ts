// Command-line parsing against the command table (commands.ts): `aegis [command] [options] [args]`,
// strict about unknowns, with a did-you-mean for a mistyped command or option.
import { existsSync } from "node:fs";
import { closest } from "../config/suggest.ts";
import { COMMAND_NAMES, COMMANDS, commandSpec, optionsOf, VERSION_OPTION, type Command, type CommandSpec, type OptionSpec } from "./commands.ts";

export { COMMANDS, type Command } from "./commands.ts";

export interface Args {
  command: Command;
  /** -c / --config. */
  config: string | null;
  /** For `aegis help <command>`. */
  topic: string | null;
  /** The arguments after `init` or `service`, for their own parsers. */
  rest: string[];
  /** The positional arguments after the command (check's FILE, drain's SERVER). */
  positionals: string[];
  /** Every other option given, by its long name: its value, or true for a switch. */
  options: Map<string, string | true>;
}

export class UsageError extends Error {
  /** The command whose usage was wrong, for "Run `aegis help CMD`"; none for a wrong command. */
  command?: string;
}

function usage(message: string, command?: string): UsageError {
  const e = new UsageError(message);
  if (command && command !== "run") e.command = command;
  return e;
}

const isOption = (arg: string) => arg.startsWith("-") && arg !== "-";

/** Where the command word is: the first argument that is neither an option nor -c's value. */
function commandIndex(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "-c" || arg === "--config") i++;
    else if (!isOption(arg)) return i;
  }
  return -1;
}

function unknownCommand(arg: string): UsageError {
  const hit = closest(arg, COMMAND_NAMES);
  if (hit) return new UsageError(`unknown command "${arg}" (did you mean "${hit}"?)`);
  if (arg.endsWith(".toml") || existsSync(arg)) return new UsageError(`unknown command "${arg}" (to run a config file: aegis -c ${arg}; to check it: aegis check ${arg})`);
  return new UsageError(`unknown command "${arg}"`);
}

export function parseArgs(argv: readonly string[]): Args {
  const args: Args = { command: "run", config: null, topic: null, rest: [], positionals: [], options: new Map() };
  const at = commandIndex(argv);
  if (at >= 0) {
    const word = argv[at]!;
    if (!(COMMANDS as readonly string[]).includes(word)) throw unknownCommand(word);
    args.command = word as Command;
  }
  const spec = commandSpec(args.command)!;
  const own = spec.ownParser === true;
  // What this parser reads: every argument but the command word; for init and service only those
  // before it, since what follows is theirs.
  const mine = own && at >= 0 ? argv.slice(0, at) : argv.filter((_, i) => i !== at);
  if (own && at >= 0) args.rest = argv.slice(at + 1);
  // --help anywhere wins (init --help, service install --help), then --version.
  const all = at >= 0 ? [...mine, ...args.rest] : mine;
  if (all.some((a) => a === "--help" || a === "-h")) return { ...args, command: "help", topic: at >= 0 ? args.command : null, rest: [] };
  if (mine.some((a) => a === "--version" || a === "-V")) return { ...args, command: "version", rest: [] };
  readOptions(mine, spec, args);
  const p = spec.positional;
  const max = p?.max ?? 0;
  if (args.positionals.length > max) throw usage(`unexpected argument "${args.positionals[max]}"${p ? "" : ` (${spec.name} takes none)`}`, spec.name);
  if (p && !own && args.positionals.length < p.min) throw usage(`${spec.name} needs ${p.name}: aegis ${spec.usage[0]}`, spec.name);
  const choices = p && !own && typeof p.complete !== "string" ? p.complete : null;
  const given = args.positionals[0];
  if (choices && given !== undefined && !choices.includes(given)) {
    const hit = closest(given, choices);
    throw usage(`${spec.name}: ${p!.name} must be ${choices.join(", ")}; got "${given}"${hit ? ` (did you mean "${hit}"?)` : ""}`, spec.name);
  }
  if (args.command === "help") args.topic = args.positionals[0] ?? null;
  return args;
}

function readOptions(argv: readonly string[], spec: CommandSpec, args: Args): void {
  const known = spec.ownParser ? [] : optionsOf(spec);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!isOption(arg)) {
      args.positionals.push(arg);
      continue;
    }
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const option = known.find((o) => o.long === name || o.short === name);
    if (!option) throw refused(name, spec, known);
    let value: string | true = true;
    if (option.value) {
      const given = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (given === undefined || given === "") throw usage(`${name} needs ${option.value === "FILE" ? "a file path" : `a value (${option.value})`}`, spec.name);
      value = given;
    } else if (eq > 0) {
      throw usage(`${name} takes no value`, spec.name);
    }
    if (option.long === "--config") args.config = value as string;
    else args.options.set(option.long, value);
  }
}

/** Why `name` is not an option of this command: refused with a reason, or unknown, with the closest one. */
function refused(name: string, spec: CommandSpec, known: OptionSpec[]): UsageError {
  const long = name === "-c" ? "--config" : name;
  const reason = spec.refuses?.[long];
  if (reason) return usage(reason, spec.name);
  const where = spec.name === "run" ? "" : `${spec.name}: `;
  if (spec.ownParser && spec.options.some((o) => o.long === long)) return usage(`${name} goes after the command: aegis ${spec.usage[0]}`, spec.name);
  if (long === "--config") return usage(`${spec.name} reads no config file: leave out ${name}`, spec.name);
  const names = [...known, VERSION_OPTION].flatMap((o) => (o.short ? [o.long, o.short] : [o.long]));
  const hit = name.startsWith("--") ? closest(name, names.filter((n) => n.startsWith("--"))) : undefined;
  const elsewhere = hit ? "" : otherCommands(long);
  return usage(`${where}unknown option ${name}${hit ? ` (did you mean ${hit}?)` : elsewhere}`, spec.name);
}

/** " (an option of demo)" when another command takes it: a common slip is the wrong command. */
function otherCommands(long: string): string {
  const owners = COMMAND_NAMES.filter((c) => commandSpec(c)!.options.some((o) => o.long === long));
  return owners.length ? ` (an option of ${owners.join(", ")})` : "";
}
