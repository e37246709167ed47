// `aegis init` options: every answer can come from a flag, so scripts and CI never meet a prompt.
import { addressKey, parseAddress } from "../../config/address.ts";
import { BALANCE_ALGORITHMS } from "../../config/schema.ts";
import { UsageError } from "../args.ts";
import { DEFAULT_METRICS, DEFAULT_OUTPUT, SERVICE_OUTPUT, withHost, type InitAnswers } from "./answers.ts";
import { addressError } from "./checks.ts";
import { HEALTH_CHOICES, type HealthChoice } from "./health-presets.ts";
import { absolutePath, certProblem, keyFileProblem, type TlsAnswer } from "./tls.ts";
import { cidrListProblem, splitList, ttlProblem, type ClientAnswer } from "./client-wizard.ts";

export interface InitFlags {
  listen?: string;
  servers: string[];
  balance?: string;
  health?: HealthChoice;
  /** undefined: not given; null: --metrics off. */
  metrics?: string | null;
  output?: string;
  /** --tls-cert, --tls-key (absolute, files checked) and --tls-postgres. */
  tls?: TlsAnswer;
  /** --proxy-protocol, --proxy-protocol-from, --send-proxy, --stick. */
  client?: ClientAnswer;
  /** Do not ask: write with the flags' answers. */
  yes: boolean;
  /** Overwrite an existing file. */
  force: boolean;
  /** Install the systemd service after writing. */
  service: boolean;
}

const VALUED = ["--listen", "--server", "--balance", "--health", "--metrics", "--output", "--tls-cert", "--tls-key", "--proxy-protocol", "--proxy-protocol-from", "--send-proxy", "--stick"] as const;
type ClientFlag = "--proxy-protocol" | "--proxy-protocol-from" | "--send-proxy" | "--stick";
const SWITCHES = ["--yes", "--force", "--service", "--tls-postgres"];
const ALIASES: Record<string, string> = { "-l": "--listen", "-s": "--server", "-b": "--balance", "-o": "--output", "-y": "--yes" };

/**
 * Parses and validates the options after `aegis init`; throws UsageError with the fix in its text.
 * TLS paths are resolved against `cwd` and their files read now, so a typo fails before any question.
 */
export function parseInitFlags(argv: readonly string[], algorithms: readonly string[] = BALANCE_ALGORITHMS, cwd = process.cwd()): InitFlags {
  const flags: InitFlags = { servers: [], yes: false, force: false, service: false };
  const tls: { cert?: string; key?: string; postgres: boolean } = { postgres: false };
  const client: Partial<Record<ClientFlag, string>> = {};
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]!;
    let value: string | undefined;
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    if (eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    arg = ALIASES[arg] ?? arg;
    if (SWITCHES.includes(arg)) {
      if (value !== undefined) throw new UsageError(`${arg} takes no value`);
      if (arg === "--yes") flags.yes = true;
      else if (arg === "--force") flags.force = true;
      else if (arg === "--service") flags.service = true;
      else tls.postgres = true;
      continue;
    }
    if (!(VALUED as readonly string[]).includes(arg)) {
      throw new UsageError(arg.startsWith("-") ? `init: unknown option ${arg}` : `init: unexpected argument "${arg}"`);
    }
    if (value === undefined) value = argv[++i];
    if (value === undefined || value === "") throw new UsageError(`${arg} needs a value`);
    if (arg === "--tls-cert") tls.cert = absolutePath(cwd, value);
    else if (arg === "--tls-key") tls.key = absolutePath(cwd, value);
    else if (CLIENT_FLAGS.includes(arg)) client[arg as ClientFlag] = value;
    else applyValue(flags, arg as Exclude<(typeof VALUED)[number], "--tls-cert" | "--tls-key" | ClientFlag>, value, algorithms);
  }
  const answer = checkedTls(tls);
  if (answer) flags.tls = answer;
  const clientAnswer = checkedClient(client);
  if (clientAnswer) flags.client = clientAnswer;
  return flags;
}

const CLIENT_FLAGS: readonly string[] = ["--proxy-protocol", "--proxy-protocol-from", "--send-proxy", "--stick"];

/** The client answers of the flags, each checked as the wizard checks it; undefined when none is given. */
function checkedClient(f: Partial<Record<ClientFlag, string>>): ClientAnswer | undefined {
  const out: ClientAnswer = {};
  const accept = f["--proxy-protocol"];
  const from = f["--proxy-protocol-from"];
  if (accept !== undefined && !["v1", "v2", "any"].includes(accept)) throw new UsageError(`--proxy-protocol ${JSON.stringify(accept)}: choose v1, v2 or any`);
  if (accept !== undefined && from === undefined) throw new UsageError("--proxy-protocol needs --proxy-protocol-from CIDR[,CIDR]: the balancers allowed to send the header");
  if (from !== undefined && accept === undefined) throw new UsageError("--proxy-protocol-from needs --proxy-protocol v1|v2|any");
  if (accept !== undefined && from !== undefined) {
    const why = cidrListProblem(from);
    if (why) throw new UsageError(`--proxy-protocol-from: ${why}`);
    out.proxyProtocol = { accept: accept as "v1" | "v2" | "any", from: splitList(from) };
  }
  const send = f["--send-proxy"];
  if (send !== undefined && send !== "v1" && send !== "v2") throw new UsageError(`--send-proxy ${JSON.stringify(send)}: choose v1 or v2`);
  if (send) out.sendProxy = send;
  const ttl = f["--stick"];
  if (ttl !== undefined) {
    const why = ttlProblem(ttl);
    if (why) throw new UsageError(`--stick ${why}`);
    out.stickTtl = ttl;
  }
  return out.proxyProtocol || out.sendProxy || out.stickTtl ? out : undefined;
}

/** The TLS answer of the flags, its files checked as the wizard checks them; undefined without --tls-cert. */
function checkedTls(tls: { cert?: string; key?: string; postgres: boolean }): TlsAnswer | undefined {
  if (tls.cert === undefined) {
    if (tls.key !== undefined) throw new UsageError("--tls-key needs --tls-cert: a key is only used with its certificate");
    if (tls.postgres) throw new UsageError("--tls-postgres needs --tls-cert (and --tls-key unless the cert file holds the key)");
    return undefined;
  }
  const certWhy = certProblem(tls.cert);
  if (certWhy) throw new UsageError(`--tls-cert: ${certWhy}`);
  const keyWhy = keyFileProblem(tls.cert, tls.key);
  if (keyWhy) throw new UsageError(`${tls.key === undefined ? "--tls-cert" : "--tls-key"}: ${keyWhy}`);
  return { cert: tls.cert, ...(tls.key !== undefined ? { key: tls.key } : {}), postgres: tls.postgres };
}

function applyValue(flags: InitFlags, flag: Exclude<(typeof VALUED)[number], "--tls-cert" | "--tls-key" | ClientFlag>, value: string, algorithms: readonly string[]): void {
  switch (flag) {
    case "--listen":
      flags.listen = checkedAddress(flag, withHost(value, "0.0.0.0"), "bind");
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
      flags.metrics = value === "off" ? null : checkedAddress(flag, withHost(value, "127.0.0.1"), "bind");
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
    ...(flags.tls ? { tls: flags.tls } : {}),
    ...(flags.client ? { client: flags.client } : {}),
    servers: flags.servers,
    balance: flags.balance ?? BALANCE_ALGORITHMS[0],
    health: flags.health ?? "none",
    metrics: flags.metrics === undefined ? DEFAULT_METRICS : flags.metrics,
    service: flags.service,
    output: flags.output ?? (flags.service ? SERVICE_OUTPUT : DEFAULT_OUTPUT),
  };
}
