// The admin API's runtime servers (HAProxy's add server / del server / set server addr): added,
// moved and removed through the supervisor's server sets, each swapped into every Worker before
// the answer, and logged with who asked.
import { addressKey, formatAddress, parseAddress } from "../config/address.ts";
import { ConfigError } from "../config/errors.ts";
import { parseDuration } from "../config/duration.ts";
import { notServerName, WEIGHT_BOUNDS } from "../config/schema.ts";
import type { Address, ServerConfig } from "../config/types.ts";
import { S } from "../shared/layout.ts";
import { readJsonObject } from "./body.ts";
import { awaitApplied, type AppliedWait } from "./changes.ts";
import { failure, json } from "./http.ts";
import type { StatusSource } from "./source.ts";
import { upstreamView } from "./views.ts";

export interface ServersCall {
  source: StatusSource & AppliedWait;
  request: Request;
  client: string;
}
type Outcome = { response: Response; audit?: Record<string, unknown> };

/** Where DELETE looks again whether the drained server's sessions have ended. */
const DRAIN_POLL_MS = 200;

function addressOf(value: unknown, key: string): Address | string {
  if (typeof value !== "string") return `"${key}" must be a "host:port" string; got ${value === undefined ? "nothing" : JSON.stringify(value)}`;
  try {
    return parseAddress(value, key, "connect");
  } catch (err) {
    return err instanceof ConfigError ? err.problems.join("; ") : (err as Error).message;
  }
}

const unknownKeys = (body: Record<string, unknown>, allowed: string[]) => Object.keys(body).filter((k) => !allowed.includes(k));

function taken(source: StatusSource, ui: number, s: { name?: string; address?: Address }, except?: string): string | null {
  // The running servers, and additions another request is swapping in right now.
  const pending = source.servers?.api(source.config.upstreams[ui]!.name).added ?? [];
  for (const other of [...source.config.upstreams[ui]!.servers, ...pending]) {
    if (other.name === except) continue;
    if (s.name !== undefined && other.name === s.name) return `a server named ${JSON.stringify(s.name)} is already in upstream ${source.config.upstreams[ui]!.name}`;
    if (s.address && addressKey(other.address) === addressKey(s.address)) return `${formatAddress(s.address)} is already server ${JSON.stringify(other.name)}`;
  }
  return null;
}

async function swap(call: ServersCall, why: string, undo: () => void): Promise<string | null> {
  const result = await call.source.refresh!(`admin API (${call.client}): ${why}`);
  if (result.ok) return null;
  undo();
  return result.error;
}

export async function addServer(call: ServersCall, ui: number): Promise<Outcome> {
  const { source } = call;
  const upstream = source.config.upstreams[ui]!.name;
  const audit: Record<string, unknown> = { upstream, action: "add server" };
  const body = await readJsonObject(call.request, `{"address": "10.0.0.7:6379", "name": "r3", "weight": 2}`);
  if (!body.ok) return { response: body.response, audit };
  const v = body.value;
  const extra = unknownKeys(v, ["address", "name", "weight", "backup"]);
  if (extra.length) return { response: failure(400, `unknown key ${JSON.stringify(extra[0])}: give address, and optionally name, weight and backup`), audit };
  const address = addressOf(v.address, "address");
  if (typeof address === "string") return { response: failure(400, address), audit };
  const name = v.name === undefined ? (v.address as string) : v.name;
  if (typeof name !== "string" || notServerName(name)) return { response: failure(400, `"name" ${typeof name === "string" ? `${JSON.stringify(name)} ${notServerName(name)}` : "must be a string"}`), audit };
  const weight = v.weight ?? 1;
  if (typeof weight !== "number" || !Number.isInteger(weight) || weight < WEIGHT_BOUNDS.min || weight > WEIGHT_BOUNDS.max) {
    return { response: failure(400, `"weight" must be an integer from ${WEIGHT_BOUNDS.min} to ${WEIGHT_BOUNDS.max}; got ${JSON.stringify(weight)}`), audit };
  }
  if (v.backup !== undefined && typeof v.backup !== "boolean") return { response: failure(400, `"backup" must be true or false; got ${JSON.stringify(v.backup)}`), audit };
  Object.assign(audit, { server: name, address: formatAddress(address) });
  const clash = taken(source, ui, { name, address });
  if (clash) return { response: failure(409, clash), audit };
  const server: ServerConfig = { name, address, weight, backup: v.backup === true, source: "api" };
  const api = source.servers!.api(upstream);
  api.added.push(server);
  const error = await swap(call, `add ${name}`, () => api.added.splice(api.added.indexOf(server), 1));
  if (error) return { response: failure(503, `the server was not added: ${error}`), audit: { ...audit, error } };
  return { response: json({ upstream, server: viewOf(source, upstream, name) }, 201), audit };
}

export async function moveServer(call: ServersCall, ui: number, si: number): Promise<Outcome> {
  const { source } = call;
  const u = source.config.upstreams[ui]!;
  const current = u.servers[si]!;
  const audit: Record<string, unknown> = { upstream: u.name, server: current.name, action: "move server" };
  const body = await readJsonObject(call.request, `{"address": "10.0.0.8:6379"}`);
  if (!body.ok) return { response: body.response, audit };
  const extra = unknownKeys(body.value, ["address"]);
  if (extra.length) return { response: failure(400, `unknown key ${JSON.stringify(extra[0])}: give address (change the weight with POST .../weight)`), audit };
  const address = addressOf(body.value.address, "address");
  if (typeof address === "string") return { response: failure(400, address), audit };
  Object.assign(audit, { from: formatAddress(current.address), to: formatAddress(address) });
  const clash = taken(source, ui, { address }, current.name);
  if (clash) return { response: failure(409, clash), audit };
  const api = source.servers!.api(u.name);
  const at = api.added.findIndex((s) => s.name === current.name);
  const added = at >= 0 ? api.added[at]! : null;
  const before = api.moved[current.name];
  if (added) api.added[at] = { ...added, address };
  else api.moved[current.name] = address;
  const error = await swap(call, `move ${current.name} to ${formatAddress(address)}`, () => {
    if (added) api.added[at] = added;
    else if (before) api.moved[current.name] = before;
    else delete api.moved[current.name];
  });
  if (error) return { response: failure(503, `the server was not moved: ${error}`), audit: { ...audit, error } };
  return { response: json({ upstream: u.name, server: viewOf(source, u.name, current.name), previous: { address: formatAddress(current.address) } }), audit };
}

/** DELETE: drain now, remove once its sessions ended (or `grace` passed); `now=1` removes at once. */
export async function deleteServer(call: ServersCall, ui: number, si: number): Promise<Outcome> {
  const { source } = call;
  const u = source.config.upstreams[ui]!;
  const name = u.servers[si]!.name;
  const params = new URL(call.request.url).searchParams;
  const audit: Record<string, unknown> = { upstream: u.name, server: name, action: "delete server" };
  let graceMs = source.config.global.shutdownGraceMs;
  const grace = params.get("grace");
  if (grace !== null) {
    try {
      graceMs = parseDuration(grace, "grace");
    } catch (err) {
      return { response: failure(400, err instanceof ConfigError ? err.problems.join("; ") : (err as Error).message), audit };
    }
  }
  const now = params.get("now");
  if (now !== null && now !== "1" && now !== "true") return { response: failure(400, `now must be 1 or true; got ${JSON.stringify(now)}`), audit };
  const remove = () => removeServer(call, u.name, name);
  if (now !== null) {
    const error = await remove();
    if (error) return { response: failure(503, `the server was not removed: ${error}`), audit: { ...audit, error } };
    return { response: json({ upstream: u.name, server: name, removed: true }), audit: { ...audit, removed: true } };
  }
  source.health.setAdmin(ui, si, "draining", `admin API (${call.client}): delete`);
  // The 202 promises no new sessions: answer once every Worker has the drain.
  const unapplied = await awaitApplied(source);
  if (unapplied) return { response: unapplied, audit: { ...audit, applied: false } };
  const deadline = performance.now() + graceMs;
  const watch = () => {
    const at = indexOf(source, u.name, name);
    if (!at) return; // gone already (a reload, another DELETE)
    const active = source.reader.server(at[0], at[1], S.active);
    if (active > 0 && performance.now() < deadline) return void setTimeout(watch, DRAIN_POLL_MS);
    void remove().then((error) => {
      if (error) source.logger.warn("admin API: a drained server could not be removed", { upstream: u.name, server: name, error });
    });
  };
  setTimeout(watch, 0);
  return {
    response: json({ upstream: u.name, server: name, state: "draining", removes: `once its sessions have ended, at the latest in ${Math.round(graceMs / 1000)} s` }, 202),
    audit: { ...audit, grace_ms: graceMs },
  };
}

async function removeServer(call: ServersCall, upstream: string, name: string): Promise<string | null> {
  const api = call.source.servers!.api(upstream);
  const added = api.added.findIndex((s) => s.name === name);
  const was = added >= 0 ? api.added[added]! : null;
  if (was) api.added.splice(added, 1);
  else api.removed.push(name);
  const moved = api.moved[name];
  delete api.moved[name];
  return swap(call, `remove ${name}`, () => {
    if (was) api.added.splice(added, 0, was);
    else api.removed.splice(api.removed.lastIndexOf(name), 1);
    if (moved) api.moved[name] = moved;
  });
}

function indexOf(source: StatusSource, upstream: string, name: string): [number, number] | null {
  const ui = source.config.upstreams.findIndex((u) => u.name === upstream);
  const si = ui < 0 ? -1 : source.config.upstreams[ui]!.servers.findIndex((s) => s.name === name);
  return si < 0 ? null : [ui, si];
}

function viewOf(source: StatusSource, upstream: string, name: string) {
  const at = indexOf(source, upstream, name);
  return at ? upstreamView(source, at[0]).servers[at[1]] : null;
}
