// `aegis status | reload | drain SERVER | enable SERVER | upgrade`: the running aegis driven through
// its admin API, found from the config file (locate.ts).
import type { UpstreamStatus } from "../../admin/views.ts";
import { closest } from "../../config/suggest.ts";
import { errorOf, request, type Answer } from "./client.ts";
import { ControlError, EXIT, locate, type Instance } from "./locate.ts";
import { renderStatus, type StatusAnswer } from "./status-table.ts";

export type ControlCommand = "status" | "reload" | "drain" | "enable" | "upgrade";

export interface ControlArgs {
  /** The config file that tells where the running aegis is. */
  configPath: string;
  /** drain/enable's SERVER. */
  target?: string;
  json: boolean;
}

/** Reads are quick; a reload or a state change waits for every Worker (5 s each at most); an upgrade starts a process. */
const TIMEOUT_MS = { read: 10_000, change: 30_000, upgrade: 120_000 } as const;

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

const stdio: Output = { out: (t) => console.log(t), err: (t) => console.error(t) };

export async function runControl(command: ControlCommand, args: ControlArgs, io: Output = stdio): Promise<number> {
  try {
    const instance = locate(args.configPath);
    switch (command) {
      case "status": return await status(instance, args, io);
      case "reload": return await reload(instance, io);
      case "drain": return await setState(instance, args.target!, "draining", io);
      case "enable": return await setState(instance, args.target!, "ready", io);
      case "upgrade": return await upgrade(instance, io);
    }
  } catch (e) {
    if (!(e instanceof ControlError)) throw e;
    io.err(`aegis: ${e.message}`);
    return e.code;
  }
}

/** An answer that is not what the endpoint promises: the running aegis said no, and why. */
function failed(what: string, a: Answer): ControlError {
  return new ControlError(`${what}: ${errorOf(a)} (HTTP ${a.status})`, EXIT.refused);
}

async function status(instance: Instance, args: ControlArgs, io: Output): Promise<number> {
  const a = await request(instance, "GET", "/api/status", undefined, TIMEOUT_MS.read);
  if (a.status !== 200) throw failed("status", a);
  io.out(args.json ? JSON.stringify(a.body, null, 2) : renderStatus(a.body as unknown as StatusAnswer));
  return 0;
}

async function reload(instance: Instance, io: Output): Promise<number> {
  const a = await request(instance, "POST", "/api/reload", undefined, TIMEOUT_MS.change);
  if (a.status === 200) {
    const changes = (a.body.changes as string[] | undefined) ?? [];
    io.out(changes.length === 0 ? "reloaded: nothing changed" : `reloaded: ${changes.length} change${changes.length === 1 ? "" : "s"}\n${changes.map((c) => `  ${c}`).join("\n")}`);
    return 0;
  }
  if (a.status === 422) {
    throw new ControlError(`reload refused: every Worker keeps the running config\n${errorOf(a)}`, EXIT.refused);
  }
  throw failed("reload", a);
}

/** A typo's likely meaning; none for one or two characters, which are near everything short. */
const suggest = (input: string, names: string[]) => (input.length < 3 ? undefined : closest(input, names));

/** The server SERVER names: "upstream/server" (a name, an address or an index), or a name or address only one upstream has. */
export function resolveServer(upstreams: readonly UpstreamStatus[], target: string): { upstream: string; server: string } {
  const all = upstreams.flatMap((u) => u.servers.map((s) => ({ upstream: u.name, server: s.name, address: s.address })));
  const listing = all.length ? ` The servers: ${all.map((s) => `${s.upstream}/${s.server}`).join(", ")}` : " It has no servers.";
  const slash = target.indexOf("/");
  if (slash >= 0) {
    const [u, key] = [target.slice(0, slash), target.slice(slash + 1)];
    const upstream = upstreams.find((x) => x.name === u);
    if (!upstream) {
      const hint = suggest(u, upstreams.map((x) => x.name));
      throw new ControlError(`no upstream named "${u}"${hint ? ` (did you mean "${hint}"?)` : ""}.${listing}`, EXIT.usage);
    }
    const s = upstream.servers.find((x) => x.name === key) ?? upstream.servers.find((x) => x.address === key)
      ?? (/^\d+$/.test(key) ? upstream.servers[Number(key)] : undefined);
    if (s) return { upstream: u, server: s.name };
    const hint = suggest(key, upstream.servers.map((x) => x.name));
    throw new ControlError(`upstream ${u} has no server "${key}"${hint ? ` (did you mean "${u}/${hint}"?)` : ""}.${listing}`, EXIT.usage);
  }
  const byName = all.filter((s) => s.server === target);
  const found = byName.length ? byName : all.filter((s) => s.address === target);
  if (found.length === 1) return found[0]!;
  if (found.length > 1) {
    throw new ControlError(`"${target}" is ambiguous: ${found.length} upstreams have it. Give one of: ${found.map((s) => `${s.upstream}/${s.server}`).join(", ")}`, EXIT.usage);
  }
  const hint = suggest(target, all.map((s) => s.server));
  throw new ControlError(`no server "${target}"${hint ? ` (did you mean "${hint}"?)` : ""}.${listing}`, EXIT.usage);
}

async function setState(instance: Instance, target: string, wanted: "draining" | "ready", io: Output): Promise<number> {
  const list = await request(instance, "GET", "/api/upstreams", undefined, TIMEOUT_MS.read);
  if (list.status !== 200) throw failed("listing the servers", list);
  const { upstream, server } = resolveServer(list.body.upstreams as UpstreamStatus[], target);
  const path = `/api/upstreams/${encodeURIComponent(upstream)}/servers/${encodeURIComponent(server)}/state`;
  const a = await request(instance, "POST", path, { state: wanted }, TIMEOUT_MS.change);
  if (a.status !== 200) throw failed(`${upstream}/${server}`, a);
  const after = a.body.server as { state: string; admin: string; connections_active: number };
  const before = a.body.previous as { admin: string; state: string };
  const was = before.admin === after.admin ? `already ${after.admin}` : `was ${before.admin}`;
  const detail = wanted === "draining"
    ? `no new sessions; ${after.connections_active} open session${after.connections_active === 1 ? "" : "s"} go on`
    : after.state === "up" ? "takes new sessions" : `state ${after.state}: it takes new sessions once its health checks pass`;
  io.out(`${upstream}/${server}: ${after.admin} (${was}), ${detail}`);
  return 0;
}

async function upgrade(instance: Instance, io: Output): Promise<number> {
  const a = await request(instance, "POST", "/api/upgrade", undefined, TIMEOUT_MS.upgrade);
  if (a.status === 404 && errorOf(a).startsWith("no such endpoint")) {
    throw new ControlError(`the running aegis on ${instance.address} has no upgrade endpoint (POST /api/upgrade): it is a version without in-place upgrades. Restart it instead (systemctl restart aegis), which closes its sessions`, EXIT.refused);
  }
  if (a.status !== 200 || a.body.ok !== true) throw failed("upgrade failed", a);
  io.out(`upgraded: pid ${a.body.old_pid} -> ${a.body.new_pid}; the old process stops accepting and drains its sessions (within shutdown_grace)`);
  return 0;
}
