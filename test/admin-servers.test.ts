// The admin API's runtime servers through the compiled binary: POST adds, PATCH moves, DELETE drains
// then removes, while 24 sha256-checked streams run (none drops) and new sessions keep coming (none
// fails); each change is logged with who asked; every bad request says what to fix; without
// state_file a reload starts again from the file.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SOURCE_COMMAND, startAegis, simpleConfig, tempDir, type Aegis } from "./helpers/aegis.ts";
import { ensureBinary } from "./helpers/build.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { expectIntact, pacedStreams } from "./helpers/streams.ts";
import { waitFor } from "./helpers/wait.ts";
import { startChurn } from "./helpers/churn.ts";

const TOKEN = "servers-token-0123456789abcdef";
let aegis: Aegis;
const backends: Backend[] = [];

beforeAll(async () => {
  for (let i = 0; i < 4; i++) backends.push(startEcho());
  aegis = await startAegis(simpleConfig([backends[0]!.address, backends[1]!.address], { workers: 2, logLevel: "info", global: "access_log = false" }) + `\n[admin]\ntoken = "${TOKEN}"\n`,
    { command: [ensureBinary()], cwd: tempDir() });
});
afterAll(async () => {
  await aegis?.stop("SIGKILL");
  for (const b of backends) b.stop();
});

async function call(method: string, path: string, body?: unknown) {
  const r = await fetch(`http://127.0.0.1:${aegis.metricsPort}/api${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` }, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
  const text = await r.text();
  let json: Record<string, unknown> = {};
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: r.status, json };
}
const names = async () => ((await call("GET", "/upstreams/app")).json.servers as { name: string }[]).map((s) => s.name);

/** New sessions reach backend `i`: the next few connections include one it accepts. */
async function reaches(i: number) {
  const before = backends[i]!.accepted;
  await waitFor(async () => {
    const s = await Bun.connect({ hostname: "127.0.0.1", port: aegis.port, socket: { data() {} } });
    s.end();
    return backends[i]!.accepted > before;
  }, { timeoutMs: 15_000, what: `a session reaching backend ${i}` });
}

describe("runtime servers", () => {
  test("bad requests: 400, 404, 405 and 409 with what to fix", async () => {
    expect((await call("POST", "/upstreams/app/servers", { address: "nohost" })).json.error).toMatch(/is missing a port/);
    expect((await call("POST", "/upstreams/app/servers", {})).json.error).toMatch(/"address" must be a "host:port" string/);
    expect((await call("POST", "/upstreams/app/servers", { address: "127.0.0.1:1", colour: "red" })).json.error).toMatch(/unknown key "colour"/);
    expect((await call("POST", "/upstreams/app/servers", { address: "127.0.0.1:1", weight: 0 })).json.error).toMatch(/"weight" must be an integer from 1 to 1000/);
    expect((await call("POST", "/upstreams/app/servers", { address: "127.0.0.1:1", name: "a b" })).json.error).toMatch(/is not a server name/);
    expect((await call("POST", "/upstreams/app/servers", { address: "127.0.0.1:1", backup: "yes" })).status).toBe(400);
    expect((await call("POST", "/upstreams/app/servers", "not json")).status).toBe(400);
    const dup = await call("POST", "/upstreams/app/servers", { address: backends[0]!.address, name: "again" });
    expect(dup.status).toBe(409);
    expect(dup.json.error).toMatch(/is already server/);
    expect((await call("POST", "/upstreams/app/servers", { address: "127.0.0.1:2", name: backends[1]!.address })).status).toBe(409);
    expect((await call("POST", "/upstreams/nope/servers", { address: "127.0.0.1:1" })).status).toBe(404);
    expect((await call("PUT", `/upstreams/app/servers/0`, {})).status).toBe(405);
    expect((await call("PATCH", `/upstreams/app/servers/0`, { address: backends[1]!.address })).status).toBe(409);
    expect((await call("DELETE", `/upstreams/app/servers/0?grace=soon`)).json.error).toMatch(/grace/);
    expect((await call("DELETE", `/upstreams/app/servers/nobody`)).status).toBe(404);
    expect(await names()).toEqual([backends[0]!.address, backends[1]!.address]);
  });

  test("add, move and remove under 24 streams: none drops, new sessions follow", async () => {
    const streams = pacedStreams(aegis.port, 24, 0.1, 4 * 1024 * 1024);
    await waitFor(() => backends[0]!.open + backends[1]!.open >= 24, { timeoutMs: 30_000, what: "24 streams open" });
    // And new short sessions all the while: none may fail across the changes.
    const churn = startChurn(aegis.port, 4);
    const added = await call("POST", "/upstreams/app/servers", { address: backends[2]!.address, name: "third", weight: 3 });
    expect(added.status).toBe(201);
    expect(added.json.server).toMatchObject({ name: "third", source: "api", weight: 3 });
    await reaches(2);
    const moved = await call("PATCH", "/upstreams/app/servers/third", { address: backends[3]!.address });
    expect(moved.status).toBe(200);
    expect(moved.json.server).toMatchObject({ name: "third", address: backends[3]!.address });
    await reaches(3);
    // The file's first server is drained, then removed when its streams end (they are ended below).
    const gone = await call("DELETE", `/upstreams/app/servers/${encodeURIComponent(backends[0]!.address)}?grace=10m`);
    expect(gone.status).toBe(202);
    expect(gone.json.state).toBe("draining");
    const acceptedBefore = backends[0]!.accepted;
    await reaches(3);
    expect(backends[0]!.accepted).toBe(acceptedBefore);
    const relayed = async () => (await aegis.metrics()).get(`aegis_bytes_received_total{listener="main"}`) ?? 0;
    await waitFor(async () => (await relayed()) > 24 * 256 * 1024, { timeoutMs: 60_000, what: "6 MiB relayed" });
    expectIntact(await streams.finish(), 24);
    const churned = await churn.stop();
    expect(churned.failures).toEqual({});
    expect(churned.ok).toBeGreaterThan(0);
    await waitFor(async () => !(await names()).includes(backends[0]!.address), { timeoutMs: 30_000, what: "the drained server removed" });
    expect(await names()).toEqual([backends[1]!.address, "third"]);
    // Each change is logged with who asked, what and where.
    const log = await aegis.waitForLog((l) => l.msg === "admin request" && l.action === "add server" && l.status === 201);
    expect(log).toMatchObject({ client: "127.0.0.1", method: "POST", status: 201, upstream: "app", server: "third", address: backends[2]!.address });
    expect(await aegis.waitForLog((l) => l.msg === "admin request" && l.action === "move server" && l.status === 200)).toMatchObject({
      client: "127.0.0.1", method: "PATCH", status: 200, server: "third", from: backends[2]!.address, to: backends[3]!.address,
    });
    expect(await aegis.waitForLog((l) => l.msg === "admin request" && l.action === "delete server" && l.status === 202)).toMatchObject({ client: "127.0.0.1", method: "DELETE", status: 202, server: backends[0]!.address });
    // The swap itself is logged with the client too, as the reason of the refresh.
    expect(aegis.logs.some((l) => JSON.stringify(l).includes("admin API (127.0.0.1): add third"))).toBe(true);
  }, 120_000);

  test("DELETE ?now=1 removes at once; without a state file a reload starts from the file again", async () => {
    expect((await call("DELETE", "/upstreams/app/servers/third?now=1")).json).toMatchObject({ removed: true });
    expect(await names()).toEqual([backends[1]!.address]);
    aegis.proc.kill("SIGHUP");
    await aegis.waitForLog((l) => l.msg === "reloaded");
    expect(await names()).toEqual([backends[0]!.address, backends[1]!.address]);
  });
});

describe("a swap that fails", () => {
  test("a Worker that cannot prepare: 503, the server is not added, and the same request works once it runs again", async () => {
    const WITH_FAULTS = ["/usr/bin/env", "AEGIS_TEST_FAULTS=1", ...SOURCE_COMMAND];
    const extra = startEcho();
    backends.push(extra);
    const a = await startAegis(simpleConfig([backends[1]!.address], { workers: 2, logLevel: "info", global: "access_log = false" }) + `\n[admin]\ntoken = "${TOKEN}"\n`, { command: WITH_FAULTS });
    try {
      const api = (method: string, path: string, body?: unknown) => fetch(`http://127.0.0.1:${a.metricsPort}/api${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` }, body: body === undefined ? undefined : JSON.stringify(body) });
      // Worker 1 blocks for 12 s: past the 5 s a reload phase waits for each Worker's answer.
      expect((await fetch(`http://127.0.0.1:${a.metricsPort}/faults/stall-worker/1?ms=12000`, { method: "POST" })).status).toBe(202);
      const failed = await api("POST", "/upstreams/app/servers", { address: extra.address, name: "late" });
      expect(failed.status).toBe(503);
      expect(((await failed.json()) as { error: string }).error).toMatch(/^the server was not added: .*Worker 1/);
      const names = async () => (((await (await api("GET", "/upstreams/app")).json()) as { servers: { name: string }[] }).servers).map((s) => s.name);
      expect(await names()).toEqual([backends[1]!.address]);
      // Once Worker 1 runs again, the change goes through as if never tried.
      // (An attempt still waiting when waitFor gives up on it may land later: then the next says 409.)
      await waitFor(async () => [201, 409].includes((await api("POST", "/upstreams/app/servers", { address: extra.address, name: "late" })).status), { timeoutMs: 60_000, what: "the add after the stall" });
      expect(await names()).toEqual([backends[1]!.address, "late"]);
    } finally {
      await a.stop("SIGKILL");
    }
  }, 90_000);
});
