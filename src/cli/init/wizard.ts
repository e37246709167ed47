// The interactive `aegis init`: clack prompts on the streams it is given, so tests drive it without a terminal.
import type { Writable } from "node:stream";
import * as p from "@clack/prompts";
import { addressKey, parseAddress } from "../../config/address.ts";
import type { Address } from "../../config/types.ts";
import { offeredAlgorithms } from "./algorithms.ts";
import { DEFAULT_LISTEN, DEFAULT_METRICS, DEFAULT_OUTPUT, MAX_SERVERS, SERVICE_OUTPUT, STDOUT, withHost, type InitAnswers } from "./answers.ts";
import { askOutput, type OutputChoice } from "./output.ts";
import { addressError, type PortProblem } from "./checks.ts";
import type { InitFlags } from "./flags.ts";
import { HEALTH_CHOICES, HEALTH_PRESETS, healthFields, healthKeys, schemaAccepts, type HealthChoice, type RedisAnswer } from "./health-presets.ts";
import { existsSync } from "node:fs";
import { isAbsolute } from "node:path";
import { answer, type WizardIO } from "./prompt.ts";
import { askTls, askTlsMode } from "./tls-wizard.ts";
import { askClient, clientRows } from "./client-wizard.ts";

/** What the wizard needs of the machine; the command passes the real ones, tests their own. */
export interface WizardEnv {
  portProblem(a: Address): PortProblem | null;
  reach(a: Address, timeoutMs: number): Promise<string | null>;
  /** Whether to offer installing the systemd service at all (Linux). */
  offerService: boolean;
  /** What relative certificate and key paths are relative to. */
  cwd: string;
}

/**
 * Asks every question, prefilled by `flags`; throws Cancelled. How aegis runs and where the file
 * goes come first, so an existing file is settled before the user has typed anything else.
 */
export async function askAnswers(io: WizardIO, env: WizardEnv, flags: InitFlags): Promise<InitAnswers> {
  p.intro("aegis init: a config file in a few questions", io);
  p.log.message("Nothing is written until you confirm at the end. Ctrl-C quits at any time.", io);

  const printed = flags.output === STDOUT;
  let service = !printed && await askService(io, env, flags.service);
  const where: OutputChoice = printed
    ? { output: STDOUT, overwrite: false }
    : await askOutput(io, env.cwd, flags.output ?? (service ? SERVICE_OUTPUT : DEFAULT_OUTPUT), service);
  if (service && where.output === STDOUT) {
    p.log.warn("A printed file cannot be installed as a service: the service is left out.", io);
    service = false;
  }
  const listen = await askListen(io, env, flags.listen);
  const files = await askTls(io, env.cwd, flags.tls);
  const servers = await askServers(io, flags.servers);
  if (await answer(p.confirm({ ...io, message: "Check now that the servers accept connections?", initialValue: true }))) {
    await checkServers(io, env, servers);
  }
  const balance = await answer(p.select<string>({
    ...io,
    message: "How should a server be picked for each new connection?",
    options: offeredAlgorithms().map((a) => ({ value: a.value, label: `${a.value.padEnd(12)} ${a.explanation}` })),
    ...(flags.balance ? { initialValue: flags.balance } : {}),
  }));
  const { health, custom, redis } = await askHealth(io, flags.health);
  const tls = files && await askTlsMode(io, files, health, flags.tls?.postgres ?? false);
  const client = await askClient(io, flags.client ?? {});
  const metrics = await askMetrics(io, env, listen, flags.metrics);
  const hasClient = client.proxyProtocol || client.sendProxy || client.stickTtl;
  return {
    listen, ...(tls ? { tls } : {}), servers, balance, health, ...(custom ? { custom } : {}), ...(redis ? { redis } : {}), ...(hasClient ? { client } : {}),
    metrics, service, output: where.output, overwrite: where.overwrite,
  };
}

/** Offered only where systemd runs (and the file is not printed): elsewhere a unit would never start. */
async function askService(io: WizardIO, env: WizardEnv, initial: boolean): Promise<boolean> {
  if (!env.offerService) {
    p.log.info("systemd does not run here (no /run/systemd/system), so installing a service is not offered.", io);
    return false;
  }
  return answer(p.confirm({
    ...io,
    message: "Install aegis as a systemd service (runs unprivileged, restarts on failure, starts at boot)?",
    initialValue: initial,
  }));
}

/**
 * Defaults are typed in already (initialValue): Enter takes them, and they look like what was
 * typed, while the grey placeholders elsewhere are examples that Enter does not take.
 */
async function askListen(io: WizardIO, env: WizardEnv, initial: string | undefined): Promise<string> {
  const fallback = initial ?? DEFAULT_LISTEN;
  const warnings = new Map<string, string>();
  const listen = withHost((await answer(p.text({
    ...io,
    message: "Which address should aegis accept connections on? (host:port; a port alone, or 0.0.0.0, means every IPv4 address)",
    initialValue: fallback,
    validate: (value) => {
      const text = withHost(value || fallback, "0.0.0.0");
      const syntax = addressError(text, "bind");
      if (syntax) return syntax;
      const problem = env.portProblem(parseAddress(text, "", "bind"));
      if (!problem) return undefined;
      // The service unit grants low ports, and an address may come up later (a VIP): warn, go on.
      if (problem.kind === "denied" || problem.kind === "unavailable") {
        warnings.set(text, problem.message);
        return undefined;
      }
      return `${problem.message}; choose another port`;
    },
  })) || fallback).trim(), "0.0.0.0");
  const warning = warnings.get(listen);
  if (warning) p.log.warn(warning, io);
  return listen;
}

async function askServers(io: WizardIO, initial: readonly string[]): Promise<string[]> {
  const servers: string[] = [];
  for (let i = 0; i < MAX_SERVERS; i++) {
    const first = i === 0;
    const prefill = initial[i];
    const value = await answer(p.text({
      ...io,
      message: first
        ? "Address of the first server to send connections to? (host:port)"
        : `Server ${i + 1}? (host:port, or press Enter to finish with ${servers.length})`,
      placeholder: first ? "10.0.0.5:6379" : "",
      ...(prefill ? { initialValue: prefill } : {}),
      validate: (v) => {
        if (!v) return first ? "at least one server is needed" : undefined;
        const syntax = addressError(v, "connect");
        if (syntax) return syntax;
        const key = addressKey(parseAddress(v, "", "connect"));
        if (servers.some((s) => addressKey(parseAddress(s, "", "connect")) === key)) return `${v} is already in the list`;
        return undefined;
      },
    }));
    if (!value) break;
    servers.push(value);
  }
  return servers;
}

/** Connects to each server with a spinner; unreachable servers are reported, not refused (they may start later). */
async function checkServers(io: WizardIO, env: WizardEnv, servers: readonly string[]): Promise<void> {
  const spin = spinner(io.output);
  const failures: string[] = [];
  for (const [i, server] of servers.entries()) {
    spin.update(`Connecting to ${server} (${i + 1} of ${servers.length})`);
    const why = await env.reach(parseAddress(server, "", "connect"), 2000);
    if (why) failures.push(`${server}: ${why}`);
  }
  spin.stop(failures.length === 0 ? `All ${servers.length} servers accept connections` : `${servers.length - failures.length} of ${servers.length} servers accept connections`);
  if (failures.length > 0) {
    p.log.warn(`Not reachable now (kept; aegis tries other servers and retries later):\n${failures.join("\n")}`, io);
  }
}

async function askHealth(io: WizardIO, initial: HealthChoice | undefined): Promise<{ health: HealthChoice; custom?: { send?: string; expect?: string }; redis?: RedisAnswer }> {
  const fields = healthFields();
  const labels: Record<HealthChoice, [string, string]> = {
    none: ["None", "no active checks: a failed connect makes aegis try another server"],
    ...Object.fromEntries(Object.entries(HEALTH_PRESETS).map(([k, v]) => [k, [v.label, v.explanation]])),
    custom: ["Custom", "send some text and expect some text back"],
  } as Record<HealthChoice, [string, string]>;
  if (!fields) {
    p.log.warn("This build of aegis cannot run health checks yet: a check you choose is written commented out.", io);
  }
  const health = await answer(p.select<HealthChoice>({
    ...io,
    message: "Health checks: how should aegis tell that a server is up?",
    options: HEALTH_CHOICES.map((c) => ({ value: c, label: `${labels[c][0].padEnd(16)} ${labels[c][1]}` })),
    initialValue: initial ?? "tcp",
  }));
  if (health === "redis") return { health, redis: await askRedis(io) };
  if (health !== "custom") return { health };
  const send = await answer(p.text({ ...io, message: "Text to send after connecting (empty: send nothing; \\r\\n as written in TOML)" }));
  const expect = await answer(p.text({ ...io, message: "Text the reply must contain (empty: connecting is enough)" }));
  const custom = { ...(send ? { send: unescape(send) } : {}), ...(expect ? { expect: unescape(expect) } : {}) };
  const keys = healthKeys("custom", custom);
  if (keys && !schemaAccepts(keys, fields)) p.log.warn("This build does not accept these keys: the check is written commented out.", io);
  return { health, custom };
}

/** AUTH and role for a Redis check: a replica set behind one address sends writes to the primary. */
async function askRedis(io: WizardIO): Promise<RedisAnswer> {
  const passwordFile = await answer(p.text({
    ...io,
    message: "Password file for AUTH (absolute path to a file holding requirepass; empty: no AUTH)",
    validate: (v) => {
      if (!v) return undefined;
      if (!isAbsolute(v)) return "an absolute path, e.g. /etc/aegis/redis.pass";
      return existsSync(v) ? undefined : `${v} does not exist (create it first, mode 0600)`;
    },
  }));
  const role = await answer(p.select<RedisAnswer["role"]>({
    ...io,
    message: "Which servers take the traffic?",
    options: [
      { value: "any", label: "Any server that answers PING" },
      { value: "primary", label: "The primary only (INFO replication says role:master): writes follow a failover" },
      { value: "replica", label: "Replicas only (role:slave): read-only traffic" },
    ],
    initialValue: "any",
  }));
  return { ...(passwordFile ? { passwordFile } : {}), role };
}

/** "\r\n" typed as four characters means CR LF, as in the TOML file it ends up in. */
function unescape(s: string): string {
  return s.replace(/\\([rnt\\])/g, (_, c: string) => ({ r: "\r", n: "\n", t: "\t", "\\": "\\" })[c]!);
}

async function askMetrics(io: WizardIO, env: WizardEnv, listen: string, initial: string | null | undefined): Promise<string | null> {
  const fallback = initial === null ? "off" : initial ?? DEFAULT_METRICS;
  const value = withHost((await answer(p.text({
    ...io,
    message: "Address for Prometheus metrics (/metrics) and /healthz? (host:port, a port alone for 127.0.0.1, or \"off\")",
    initialValue: fallback,
    validate: (v) => {
      const text = withHost(v || fallback, "127.0.0.1");
      if (text === "off") return undefined;
      const syntax = addressError(text, "bind");
      if (syntax) return syntax;
      const address = parseAddress(text, "", "bind");
      if (address.port !== 0 && addressKey(address) === addressKey(parseAddress(listen, "", "bind"))) {
        return "that is the proxy's own listen address; choose another port";
      }
      const problem = env.portProblem(address);
      return problem?.kind === "busy" ? `${problem.message}; choose another port` : undefined;
    },
  })) || fallback).trim(), "127.0.0.1");
  return value === "off" ? null : value;
}

/** Shows the summary and the file that is about to be written. */
export function showSummary(io: WizardIO, a: InitAnswers, text: string): void {
  const rows: [string, string][] = [
    ["Listen on", a.listen],
    ...tlsRows(a),
    ["Servers", a.servers.join(", ")],
    ["Balance", a.balance],
    ["Health check", a.health === "custom" ? `custom (${JSON.stringify(a.custom ?? {})})` : a.health],
    ...clientRows(a.client),
    ["Metrics", a.metrics ?? "off"],
    ["Service", a.service ? "install and start the systemd unit" : "no"],
    ["File", a.output === STDOUT ? "printed on stdout" : `${a.output}${a.overwrite ? " (replaced)" : ""}`],
  ];
  p.note(rows.map(([k, v]) => `${k.padEnd(13)} ${v}`).join("\n"), "Summary", io);
  p.note(text.trimEnd(), a.output === STDOUT ? "the file" : a.output, { ...io, format: (line) => line });
}

/** A row each, since absolute paths would wrap in the note's box. */
function tlsRows(a: InitAnswers): [string, string][] {
  if (!a.tls) return [["TLS", "no (plaintext)"]];
  return [
    ["TLS", `terminated by aegis${a.tls.postgres ? ', mode = "postgres" (answers the SSLRequest)' : ""}`],
    ["Certificate", a.tls.cert],
    ["Key", a.tls.key ?? "in the certificate file"],
  ];
}

/**
 * A spinner on `output` alone. clack's spinner reads process.stdin in raw mode while it spins and
 * exits 0 on Ctrl-C; this one leaves the terminal alone, so Ctrl-C is a SIGINT and exits 130.
 */
function spinner(output: Writable): { update(message: string): void; stop(message: string): void } {
  const frames = ["◒", "◐", "◓", "◑"];
  let message = "";
  let frame = 0;
  const draw = () => output.write(`\r\x1b[2K${frames[frame++ % frames.length]}  ${message}`);
  const timer = setInterval(draw, 100);
  return {
    update(next) {
      message = next;
      draw();
    },
    stop(final) {
      clearInterval(timer);
      output.write(`\r\x1b[2K◇  ${final}\n`);
    },
  };
}
