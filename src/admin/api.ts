// The admin API under /api/ on the metrics listener: bearer-token auth, JSON in and out, and one
// log line per change request saying who asked (the client address) and what came of it.
import { WEIGHT_BOUNDS } from "../config/schema.ts";
import type { AdminState } from "../health/server-state.ts";
import { checkBearer } from "./auth.ts";
import { awaitApplied, type AppliedWait } from "./changes.ts";
import { readJsonObject } from "./body.ts";
import { failure, json, methodNotAllowed } from "./http.ts";
import type { StatusSource } from "./source.ts";
import { findServer, findUpstream } from "./targets.ts";
import { listenerViews, processView, upstreamView, upstreamViews } from "./views.ts";
import { clientsView, stickView, TOP_MAX, TOP_SHOWN, unstick } from "./clients.ts";
import { addServer, deleteServer, moveServer } from "./servers-api.ts";

const ADMIN_STATES: readonly AdminState[] = ["ready", "draining", "disabled"];
const { min: MIN_WEIGHT, max: MAX_WEIGHT } = WEIGHT_BOUNDS;

export const ENDPOINTS = [
  "GET  /api/status                                      (process, listeners, upstreams: what `aegis status` shows)",
  "GET  /api/upstreams",
  "GET  /api/upstreams/{upstream}",
  "GET  /api/upstreams/{upstream}/servers/{server}",
  `POST /api/upstreams/{upstream}/servers                 {"address": "host:port", "name"?: ..., "weight"?: ${MIN_WEIGHT}..${MAX_WEIGHT}, "backup"?: false}`,
  "PATCH /api/upstreams/{upstream}/servers/{server}       {\"address\": \"host:port\"}",
  "DELETE /api/upstreams/{upstream}/servers/{server}      (drains, then removes; ?grace=30s, ?now=1)",
  "POST /api/upstreams/{upstream}/servers/{server}/state   {\"state\": \"draining\" | \"disabled\" | \"ready\"}",
  `POST /api/upstreams/{upstream}/servers/{server}/weight  {"weight": ${MIN_WEIGHT}..${MAX_WEIGHT}}`,
  "GET  /api/upstreams/{upstream}/stick                   (?limit=1000)",
  "DELETE /api/upstreams/{upstream}/stick                 (every entry)",
  "DELETE /api/upstreams/{upstream}/stick/{client}        (one: an address, or an IPv6 /64 as 2001:db8::%2F64)",
  `GET  /api/clients                                     (?listener=NAME&by=bytes|sessions&limit=1..${TOP_MAX})`,
  "POST /api/reload",
  "POST /api/upgrade                                      (starts the binary on disk now; answers once it serves)",
];

/** What a handler answers, plus what the audit line should say about it. */
interface Outcome {
  response: Response;
  audit?: Record<string, unknown>;
}

interface Call {
  source: StatusSource & AppliedWait;
  request: Request;
  /** The client's address: who asked, for logs and for the reason of a state change. */
  client: string;
}

export async function handleApi(source: StatusSource & AppliedWait, request: Request, path: string, client: string): Promise<Response> {
  const token = source.config.admin?.token;
  if (!token) {
    return failure(404, "the admin API is off: add an [admin] section with token (or token_file) to the config, then reload or restart");
  }
  const auth = checkBearer(request.headers.get("authorization"), token);
  if (auth !== "ok") {
    source.logger.warn("admin request refused", { client, method: request.method, path, reason: auth === "wrong" ? "wrong token" : `${auth} Authorization header` });
    const message = auth === "wrong" ? "wrong token" : "send the token as: Authorization: Bearer <token>";
    return failure(401, message, {}, { "www-authenticate": auth === "wrong" ? `Bearer realm="aegis", error="invalid_token"` : `Bearer realm="aegis"` });
  }
  const call: Call = { source, request, client };
  const outcome = await route(call, path);
  if (request.method !== "GET") {
    const status = outcome.response.status;
    source.logger.log(status < 400 ? "info" : "warn", "admin request", { client, method: request.method, path, status, ...outcome.audit });
  }
  return outcome.response;
}

async function route(call: Call, path: string): Promise<Outcome> {
  let parts: string[];
  try {
    parts = path.slice("/api".length).split("/").slice(1).map(decodeURIComponent);
  } catch {
    return { response: failure(400, "the path is not valid percent-encoding") };
  }
  if (parts.at(-1) === "") parts.pop(); // a trailing slash
  const method = call.request.method;
  const [first, name, third, server, action] = parts;
  const only = (allowed: string, run: () => Outcome | Promise<Outcome>) => (method === allowed ? run() : { response: methodNotAllowed(method, [allowed]) });

  if (parts.length === 0) return only("GET", () => ({ response: json({ endpoints: ENDPOINTS }) }));
  if (first === "status" && parts.length === 1) return only("GET", () => ({ response: json({ process: processView(call.source), listeners: listenerViews(call.source), upstreams: upstreamViews(call.source) }) }));
  if (first === "reload" && parts.length === 1) return only("POST", () => reload(call));
  if (first === "upgrade" && parts.length === 1) return only("POST", () => upgrade(call));
  if (first === "clients" && parts.length === 1) return only("GET", () => clients(call));
  if (first === "upstreams") {
    if (parts.length === 1) return only("GET", () => ({ response: json({ upstreams: upstreamViews(call.source) }) }));
    if (parts.length === 2) return only("GET", () => withUpstream(call, name!, (ui) => ({ response: json(upstreamView(call.source, ui)) })));
    if (third === "servers" && parts.length === 3) return only("POST", () => withUpstream(call, name!, (ui) => runtime(call, () => addServer(call, ui))));
    if (third === "servers" && parts.length === 4) {
      if (method === "PATCH") return withServer(call, name!, server!, (ui, si) => runtime(call, () => moveServer(call, ui, si)));
      if (method === "DELETE") return withServer(call, name!, server!, (ui, si) => runtime(call, () => deleteServer(call, ui, si)));
      if (method !== "GET") return { response: methodNotAllowed(method, ["GET", "PATCH", "DELETE"]) };
      return withServer(call, name!, server!, (ui, si) => ({ response: json(upstreamView(call.source, ui).servers[si]) }));
    }
    if (third === "servers" && parts.length === 5 && action === "state") return only("POST", () => withServer(call, name!, server!, (ui, si) => setState(call, ui, si)));
    if (third === "servers" && parts.length === 5 && action === "weight") return only("POST", () => withServer(call, name!, server!, (ui, si) => setWeight(call, ui, si)));
    if (third === "stick" && parts.length === 3 && method === "GET") return withUpstream(call, name!, (ui) => stickList(call, ui));
    if (third === "stick" && parts.length === 3) return only("DELETE", () => withUpstream(call, name!, (ui) => stickDelete(call, ui, null)));
    if (third === "stick" && parts.length === 4) return only("DELETE", () => withUpstream(call, name!, (ui) => stickDelete(call, ui, server!)));
  }
  return { response: failure(404, `no such endpoint: ${method} ${path}`, { endpoints: ENDPOINTS }) };
}

/** The runtime servers endpoints need the supervisor's server sets. */
function runtime(call: Call, run: () => Promise<Outcome>): Promise<Outcome> | Outcome {
  if (!call.source.servers || !call.source.refresh) return { response: failure(503, "runtime servers are not available here") };
  return run();
}

function withUpstream(call: Call, name: string, run: (ui: number) => Outcome | Promise<Outcome>): Outcome | Promise<Outcome> {
  const u = findUpstream(call.source.config, name);
  return u.ok ? run(u.index) : { response: u.response, audit: { upstream: name } };
}

function withServer(call: Call, name: string, server: string, run: (ui: number, si: number) => Outcome | Promise<Outcome>): Outcome | Promise<Outcome> {
  return withUpstream(call, name, (ui) => {
    const s = findServer(call.source.config, ui, server);
    return s.ok ? run(ui, s.index) : { response: s.response, audit: { upstream: name, server } };
  });
}

async function setState(call: Call, ui: number, si: number): Promise<Outcome> {
  const { source } = call;
  const target = { upstream: source.config.upstreams[ui]!.name, server: source.config.upstreams[ui]!.servers[si]!.name };
  const body = await readJsonObject(call.request, `{"state": "draining"}`);
  if (!body.ok) return { response: body.response, audit: target };
  const state = body.value.state;
  if (typeof state !== "string" || !(ADMIN_STATES as readonly string[]).includes(state)) {
    const got = state === undefined ? "no \"state\" key" : JSON.stringify(state);
    return { response: failure(400, `"state" must be one of ${ADMIN_STATES.map((s) => `"${s}"`).join(", ")}; got ${got}`), audit: target };
  }
  const before = upstreamView(source, ui).servers[si]!;
  source.health.setAdmin(ui, si, state as AdminState, `admin API (${call.client})`);
  const after = upstreamView(source, ui).servers[si]!;
  const audit = { ...target, action: "set state", from: before.admin, to: after.admin, state: after.state };
  // Answer once every Worker applies it: a 200 means new sessions already see the new state.
  const unapplied = await awaitApplied(source);
  if (unapplied) return { response: unapplied, audit: { ...audit, applied: false } };
  return {
    response: json({ upstream: target.upstream, server: after, previous: { admin: before.admin, state: before.state } }),
    audit,
  };
}

async function setWeight(call: Call, ui: number, si: number): Promise<Outcome> {
  const { source } = call;
  const target = { upstream: source.config.upstreams[ui]!.name, server: source.config.upstreams[ui]!.servers[si]!.name };
  const body = await readJsonObject(call.request, `{"weight": 5}`);
  if (!body.ok) return { response: body.response, audit: target };
  const weight = body.value.weight;
  if (typeof weight !== "number" || !Number.isInteger(weight) || weight < MIN_WEIGHT || weight > MAX_WEIGHT) {
    const got = weight === undefined ? "no \"weight\" key" : `${JSON.stringify(weight)}${typeof weight === "string" ? " (a string: remove the quotes)" : ""}`;
    return { response: failure(400, `"weight" must be an integer from ${MIN_WEIGHT} to ${MAX_WEIGHT}; got ${got}`), audit: target };
  }
  const before = upstreamView(source, ui).servers[si]!;
  source.health.setWeight(ui, si, weight, `admin API (${call.client})`);
  const after = upstreamView(source, ui).servers[si]!;
  const audit = { ...target, action: "set weight", from: before.weight, to: after.weight };
  const unapplied = await awaitApplied(source);
  if (unapplied) return { response: unapplied, audit: { ...audit, applied: false } };
  return {
    response: json({ upstream: target.upstream, server: after, previous: { weight: before.weight } }),
    audit,
  };
}

function stickList(call: Call, ui: number): Outcome {
  const limit = Number(new URL(call.request.url).searchParams.get("limit") ?? 1000);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1_000_000) return { response: failure(400, "limit must be an integer from 1 to 1000000") };
  const view = stickView(call.source, ui, limit);
  const name = call.source.config.upstreams[ui]!.name;
  return { response: view ? json(view) : failure(404, `upstream ${JSON.stringify(name)} has no stick table (set stick = { on = "source" } on it)`) };
}

function stickDelete(call: Call, ui: number, client: string | null): Outcome {
  const upstream = call.source.config.upstreams[ui]!.name;
  const audit = { upstream, action: client === null ? "clear stick table" : "unstick client", ...(client === null ? {} : { client }) };
  const result = unstick(call.source, ui, client);
  if ("error" in result) return { response: failure(client !== null && call.source.config.upstreams[ui]!.stick ? 400 : 404, result.error), audit };
  return { response: json({ upstream, ...result }), audit: { ...audit, removed: result.removed } };
}

function clients(call: Call): Outcome {
  const params = new URL(call.request.url).searchParams;
  const by = params.get("by") ?? "bytes";
  const limit = Number(params.get("limit") ?? TOP_SHOWN);
  const listener = params.get("listener") ?? undefined;
  if (by !== "bytes" && by !== "sessions") return { response: failure(400, `by must be "bytes" or "sessions"; got ${JSON.stringify(by)}`) };
  if (!Number.isInteger(limit) || limit < 1 || limit > TOP_MAX) return { response: failure(400, `limit must be an integer from 1 to ${TOP_MAX}`) };
  if (listener !== undefined && !call.source.config.listeners.some((l) => l.name === listener)) {
    return { response: failure(404, `no listener named ${JSON.stringify(listener)}`, { listeners: call.source.config.listeners.map((l) => l.name) }) };
  }
  return { response: json({ listeners: clientsView(call.source, limit, by, listener) }) };
}

/** 200 {ok, old_pid, new_pid} once the new process serves (this one then drains), else {error}. */
async function upgrade(call: Call): Promise<Outcome> {
  const { source } = call;
  if (!source.upgrade) return { response: failure(503, "upgrade not available in this process"), audit: { action: "upgrade" } };
  const result = await source.upgrade(`admin API (${call.client})`);
  if (!result.ok) return { response: failure(result.status, result.error), audit: { action: "upgrade", error: result.error } };
  const answer = { ok: true, old_pid: result.old_pid, new_pid: result.new_pid };
  return { response: json(answer), audit: { action: "upgrade", old_pid: result.old_pid, new_pid: result.new_pid } };
}

async function reload(call: Call): Promise<Outcome> {
  const { source } = call;
  if (!source.reload) return { response: failure(503, "reload not available"), audit: { action: "reload" } };
  source.logger.info("reload requested", { trigger: `admin API (${call.client})` });
  const result = await source.reload();
  if (!result.ok) {
    return { response: json({ ok: false, error: result.error }, 422), audit: { action: "reload", error: result.error } };
  }
  return { response: json(result), audit: { action: "reload", changes: result.changes } };
}
