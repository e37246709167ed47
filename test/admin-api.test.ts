// Admin API on a real aegis process: the token, clear 4xx answers for every kind of bad request,
// the views, reload through the API, and a log line with the client address for every change.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { startAegis, simpleConfig, type Aegis } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";

const TOKEN = "test-token-0123456789abcdef0123";

let aegis: Aegis;
let base: string;
const backends: Backend[] = [];

beforeAll(async () => {
  backends.push(startEcho(), startEcho());
  aegis = await startAegis(simpleConfig(backends.map((b) => b.address), { workers: 1, logLevel: "info", global: "access_log = false" }) + `\n[admin]\ntoken = "${TOKEN}"\n`);
  base = `http://127.0.0.1:${aegis.metricsPort}`;
});
afterAll(async () => {
  await aegis?.stop("SIGKILL");
  for (const b of backends) b.stop();
});

const auth = { authorization: `Bearer ${TOKEN}` };
async function call(method: string, path: string, body?: string, headers: Record<string, string> = auth) {
  const response = await fetch(base + path, { method, headers, body });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text);
  } catch { /* not JSON: the test says so */ }
  return { status: response.status, json, text, headers: response.headers };
}
const server = (i: number) => encodeURIComponent(backends[i]!.address);

describe("authentication", () => {
  test("no token, a malformed header or a wrong token: 401 and nothing changes", async () => {
    const path = `/api/upstreams/app/servers/0/state`;
    const body = JSON.stringify({ state: "disabled" });
    const none = await call("POST", path, body, {});
    expect(none.status).toBe(401);
    expect(none.json.error).toBe("send the token as: Authorization: Bearer <token>");
    expect(none.headers.get("www-authenticate")).toBe(`Bearer realm="aegis"`);
    expect((await call("POST", path, body, { authorization: `Basic ${btoa("a:b")}` })).status).toBe(401);
    const wrong = await call("POST", path, body, { authorization: `Bearer ${TOKEN.slice(0, -1)}x` });
    expect(wrong.status).toBe(401);
    expect(wrong.json.error).toBe("wrong token");
    // A longer or shorter guess is just as wrong (the comparison is over hashes, in constant time).
    expect((await call("POST", path, body, { authorization: `Bearer ${TOKEN}${TOKEN}` })).status).toBe(401);
    expect((await call("GET", "/api/upstreams", undefined, {})).status).toBe(401);
    const refused = await aegis.waitForLog((l) => l.msg === "admin request refused" && l.reason === "wrong token");
    expect(refused.client).toBe("127.0.0.1");
    const view = await call("GET", "/api/upstreams/app/servers/0");
    expect(view.json.admin).toBe("ready");
  });

  test("the scheme name is case-insensitive", async () => {
    expect((await call("GET", "/api/upstreams", undefined, { authorization: `bearer ${TOKEN}` })).status).toBe(200);
  });
});

describe("views", () => {
  test("GET /api/upstreams lists upstreams and servers with state and counters", async () => {
    const { status, json } = await call("GET", "/api/upstreams");
    expect(status).toBe(200);
    const [app] = json.upstreams as { name: string; servers: Record<string, unknown>[] }[];
    expect(app!.name).toBe("app");
    expect(app!.servers.map((s) => s.name)).toEqual(backends.map((b) => b.address));
    expect(app!.servers[0]).toMatchObject({ index: 0, state: "up", admin: "ready", weight: 1, configured_weight: 1, connections_active: 0, connect_errors_total: 0 });
  });

  test("a server is found by its name, URL-encoded or not, or by its index", async () => {
    const byName = await call("GET", `/api/upstreams/app/servers/${server(1)}`);
    expect(byName.json.index).toBe(1);
    expect((await call("GET", `/api/upstreams/app/servers/${backends[1]!.address}`)).json.index).toBe(1);
    expect((await call("GET", `/api/upstreams/app/servers/1`)).json.name).toBe(backends[1]!.address);
  });

  test("GET /api/ lists the endpoints", async () => {
    const { status, json } = await call("GET", "/api/");
    expect(status).toBe(200);
    expect(json.endpoints).toContain("POST /api/reload");
  });
});

describe("bad requests", () => {
  test("unknown upstream or server: 404 with the names that exist", async () => {
    const up = await call("POST", "/api/upstreams/nope/servers/0/state", `{"state":"draining"}`);
    expect(up.status).toBe(404);
    expect(up.json).toEqual({ error: `no upstream named "nope"`, upstreams: ["app"] });
    const srv = await call("POST", "/api/upstreams/app/servers/10.0.0.1%3A1/state", `{"state":"draining"}`);
    expect(srv.status).toBe(404);
    expect(srv.json.error).toBe(`upstream app has no server "10.0.0.1:1": give its name (URL-encoded) or its index 0..1`);
    expect(srv.json.servers).toEqual(backends.map((b) => b.address));
    expect((await call("GET", "/api/upstreams/app/servers/2")).status).toBe(404);
  });

  test("bad JSON, a non-object, a missing or unknown state, a bad weight: 400 saying what is expected", async () => {
    const path = `/api/upstreams/app/servers/0`;
    const bad = await call("POST", `${path}/state`, `{"state": draining}`);
    expect(bad.status).toBe(400);
    expect(String(bad.json.error)).toStartWith("the body is not valid JSON");
    expect((await call("POST", `${path}/state`, "")).json.error).toBe(`the body is empty: send a JSON object, e.g. {"state": "draining"}`);
    expect((await call("POST", `${path}/state`, `["draining"]`)).json.error).toBe(`the body must be a JSON object, e.g. {"state": "draining"}`);
    const unknown = await call("POST", `${path}/state`, `{"state":"drain"}`);
    expect(unknown.status).toBe(400);
    expect(unknown.json.error).toBe(`"state" must be one of "ready", "draining", "disabled"; got "drain"`);
    expect((await call("POST", `${path}/state`, `{"sate":"draining"}`)).json.error).toBe(`"state" must be one of "ready", "draining", "disabled"; got no "state" key`);
    for (const [weight, why] of [["0", "0"], ["1001", "1001"], ["2.5", "2.5"], [`"5"`, `"5" (a string: remove the quotes)`], ["null", "null"]] as const) {
      const r = await call("POST", `${path}/weight`, `{"weight": ${weight}}`);
      expect(r.status).toBe(400);
      expect(r.json.error).toBe(`"weight" must be an integer from 1 to 1000; got ${why}`);
    }
    const view = await call("GET", path);
    expect(view.json).toMatchObject({ admin: "ready", weight: 1 });
  });

  test("wrong method: 405 with Allow; unknown endpoint: 404 with the list", async () => {
    const get = await call("GET", "/api/reload");
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    expect(get.json.error).toBe("GET is not allowed here; use POST");
    expect((await call("DELETE", "/api/upstreams")).status).toBe(405);
    expect((await call("GET", "/api/upstreams/app/servers/0/state")).status).toBe(405);
    const nowhere = await call("GET", "/api/servers");
    expect(nowhere.status).toBe(404);
    expect(nowhere.json.endpoints).toBeArray();
    expect((await call("PUT", "/metrics")).status).toBe(405);
  });

  test("an oversized body is refused", async () => {
    const r = await call("POST", "/api/upstreams/app/servers/0/state", JSON.stringify({ state: "ready", pad: "x".repeat(70_000) }));
    expect(r.status).toBe(413);
  });
});

describe("changes", () => {
  test("state and weight changes answer the new view and are logged with who asked", async () => {
    const drained = await call("POST", `/api/upstreams/app/servers/${server(1)}/state`, `{"state":"draining"}`);
    expect(drained.status).toBe(200);
    expect(drained.json.previous).toEqual({ admin: "ready", state: "up" });
    expect(drained.json.server).toMatchObject({ name: backends[1]!.address, admin: "draining", state: "draining" });
    const line = await aegis.waitForLog((l) => l.msg === "admin request" && l.action === "set state" && l.to === "draining");
    expect(line).toMatchObject({ client: "127.0.0.1", method: "POST", status: 200, upstream: "app", server: backends[1]!.address, from: "ready" });
    const state = await aegis.waitForLog((l) => l.msg === "server state" && l.to === "draining");
    expect(state.reason).toBe("set to draining by admin API (127.0.0.1)");

    const weighted = await call("POST", `/api/upstreams/app/servers/0/weight`, `{"weight": 7}`);
    expect(weighted.status).toBe(200);
    expect(weighted.json.previous).toEqual({ weight: 1 });
    expect(weighted.json.server).toMatchObject({ weight: 7, configured_weight: 1 });
    expect(await aegis.waitForLog((l) => l.msg === "server weight")).toMatchObject({ from: 1, to: 7, reason: "set by admin API (127.0.0.1)" });
    expect(await aegis.waitForLog((l) => l.msg === "admin request" && l.action === "set weight")).toMatchObject({ client: "127.0.0.1", from: 1, to: 7 });

    // The same changes show in /metrics.json's recent changes, newest first.
    const metrics = await (await fetch(`${base}/metrics.json`)).json() as { changes: Record<string, string>[] };
    expect(metrics.changes.slice(0, 2).map((c) => [c.what, c.server, c.from, c.to])).toEqual([
      ["weight", backends[0]!.address, "1", "7"],
      ["state", backends[1]!.address, "up", "draining"],
    ]);
    await call("POST", `/api/upstreams/app/servers/1/state`, `{"state":"ready"}`);
    await call("POST", `/api/upstreams/app/servers/0/weight`, `{"weight": 1}`);
  });

  test("a refused change is logged too, with its status", async () => {
    await call("POST", `/api/upstreams/app/servers/0/state`, `{"state":"asleep"}`);
    expect(await aegis.waitForLog((l) => l.msg === "admin request" && l.status === 400)).toMatchObject({ level: "warn", client: "127.0.0.1", upstream: "app" });
  });
});

describe("reload", () => {
  test("POST /api/reload applies the file and answers the changes; an invalid file changes nothing and says why", async () => {
    const path = String(aegis.logs.find((l) => l.msg === "ready")!.config);
    const extra = startEcho();
    backends.push(extra);
    const servers = [...backends.slice(0, 2).map((b) => b.address), extra.address];
    writeFileSync(path, simpleConfig(servers, { workers: 1, logLevel: "info", global: "access_log = false" }) + `\n[admin]\ntoken = "${TOKEN}"\n`);
    const ok = await call("POST", "/api/reload");
    expect(ok.status).toBe(200);
    expect(ok.json.ok).toBe(true);
    expect((ok.json.changes as string[]).join("\n")).toContain(extra.address);
    expect(await aegis.waitForLog((l) => l.msg === "admin request" && l.action === "reload")).toMatchObject({ client: "127.0.0.1", status: 200 });
    expect(((await call("GET", "/api/upstreams/app")).json.servers as unknown[]).length).toBe(3);

    writeFileSync(path, "[[listener]]\nbind = 5\n");
    const bad = await call("POST", "/api/reload");
    expect(bad.status).toBe(422);
    expect(bad.json.ok).toBe(false);
    expect(String(bad.json.error)).toContain("listener[0].bind");
    expect(((await call("GET", "/api/upstreams/app")).json.servers as unknown[]).length).toBe(3);
  });
});

describe("without a token", () => {
  test("the API is off: 404 saying how to turn it on", async () => {
    const plain = await startAegis(simpleConfig([backends[0]!.address], { workers: 1 }));
    try {
      const r = await fetch(`http://127.0.0.1:${plain.metricsPort}/api/upstreams`, { headers: auth });
      expect(r.status).toBe(404);
      expect(((await r.json()) as { error: string }).error).toBe("the admin API is off: add an [admin] section with token (or token_file) to the config, then reload or restart");
    } finally {
      await plain.stop("SIGKILL");
    }
  });
});
