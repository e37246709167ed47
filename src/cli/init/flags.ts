// `aegis init` options: every answer can come from a flag, so scripts and CI never meet a prompt.
import { addressKey, parseAddress } from "../../config/address.ts";
import { BALANCE_ALGORITHMS } from "../../config/schema.ts";
import { UsageError } from "../args.ts";
import { DEFAULT_METRICS, DEFAULT_OUTPUT, SERVICE_OUTPUT, type InitAnswers } from "./answers.ts";
import { addressError } from "./checks.ts";
import { HEALTH_CHOICES, type HealthChoice } from "./health-presets.ts";

export interface InitFlags {
  listen?: string;
  servers: string[];
  balance?: string;
  health?: HealthChoice;
  /** undefined: not given; null: --metrics off. */
  metrics?: string | null;
  output?: string;
  /** Do not ask: write with the flags' answers. */
  yes: boolean;
  /** Overwrite an existing file. */
  force: boolean;
  /** Install the systemd service after writing. */
  service: boolean;
}

const VALUED = ["--listen", "--server", "--balance", "--health", "--metrics", "--output"] as const;
const ALIASES: Record<string, string> = { "-l": "--listen", "-s": "--server", "-b": "--balance", "-o": "--output", "-y": "--yes" };

/** Parses and validates the options after `aegis init`; throws UsageError with the fix in its text. */
export function parseInitFlags(argv: readonly string[], algorithms: readonly string[] = BALANCE_ALGORITHMS): InitFlags {
  const flags: InitFlags = { servers: [], yes: false, force: false, service: false };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!;
    let value: string | undefined;
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    if (eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    arg = ALIASES[arg] ?? arg;
    if (arg === "--yes" || arg === "--force" || arg === "--service") {
      if (value !== undefined) throw new UsageError(`${arg} takes no value`);
      if (arg === "--yes") flags.yes = true;
      else if (arg === "--force") flags.force = true;
      else flags.service = true;
      continue;
    }
    if (!(VALUED as readonly string[]).includes(arg)) {
      throw new UsageError(arg.startsWith("-") ? `init: unknown option ${arg}` : `init: unexpected argument "${arg}"`);
    }
    if (value === undefined) value = argv[++i];
    if (value === undefined || value === "") throw new UsageError(`${arg} needs a value`);
    applyValue(flags, arg as (typeof VALUED)[number], value, algorithms);
  }
  return flags;
}

function applyValue(flags: InitFlags, flag: (typeof VALUED)[number], value: string, algorithms: readonly string[]): void {
  switch (flag) {
    case "--listen":
      flags.listen = checkedAddress(flag, value, "bind");
      return;
    case "--server":
      // "--server a:1,b:2" is accepted as well as one flag per server.
      for (const server of value.split(",").map((s) => s.trim()).filter(Boolean)) {
        const checked = checkedAddress(flag, server, "connect");
        const key = addressKey(parseAddress(checked, "", "connect"));
        if (flags.servers.some((s) => addressKey(parseAddress(s, "", "connect")) === key)) {
          throw new UsageError(`--server ${JSON.stringify(server)} is given twice`);
        }
        flags.servers.push(checked);
      }
      return;
    case "--balance":
      if (!algorithms.includes(value)) {
        throw new UsageError(`--balance ${JSON.stringify(value)} is not an algorithm of this aegis; choose one of: ${algorithms.join(", ")}`);
      }
      flags.balance = value;
      return;
    case "--health":
      if (!(HEALTH_CHOICES as readonly string[]).includes(value) || value === "custom") {
        throw new UsageError(`--health ${JSON.stringify(value)} is not a preset; choose one of: ${HEALTH_CHOICES.filter((c) => c !== "custom").join(", ")}`);
      }
      flags.health = value as HealthChoice;
      return;
    case "--metrics":
      flags.metrics = value === "off" ? null : checkedAddress(flag, value, "bind");
      return;
    case "--output":
      flags.output = value;
      return;
  }
}

function checkedAddress(flag: string, value: string, use: "bind" | "connect"): string {
  const why = addressError(value, use);
  if (why) throw new UsageError(`${flag} ${why}`);
  return value;
}

/** The answers when the flags give everything needed (--listen and one --server at least), else what is missing. */
export function answersFromFlags(flags: InitFlags): InitAnswers | string[] {
  const missing: string[] = [];
  if (!flags.listen) missing.push("--listen HOST:PORT");
  if (flags.servers.length === 0) missing.push("--server HOST:PORT (once per server)");
  if (missing.length > 0 || !flags.listen) return missing;
  return {
    listen: flags.listen,
    servers: flags.servers,
    balance: flags.balance ?? BALANCE_ALGORITHMS[0],
    health: flags.health ?? "none",
    metrics: flags.metrics === undefined ? DEFAULT_METRICS : flags.metrics,
    service: flags.service,
    output: flags.output ?? (flags.service ? SERVICE_OUTPUT : DEFAULT_OUTPUT),
  };
}
