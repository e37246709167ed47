// Acknowledged snapshots: an admin state or weight change answers only once every Worker applied
// it (a 200 means it is in effect), a stuck Worker gets a 504 that names it, and /metrics shows the
// sequence number sent and the one each Worker applied.
import { expect, test } from "bun:test";
import { SOURCE_COMMAND, simpleConfig, startAegis, type Aegis } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { connect } from "./helpers/client.ts";
import { waitFor } from "./helpers/wait.ts";
import { stopAfterEach } from "./helpers/teardown.ts";

const TOKEN = "test-token-0123456789abcdef0123";
const WITH_FAULTS = ["/usr/bin/env", "AEGIS_TEST_FAULTS=1", ...SOURCE_COMMAND];

let aegis: Aegis | null = null;
const { backends, clients } = stopAfterEach(() => aegis);

async function start(command?: string[]): Promise<{ a: Aegis; servers: Backend[] }> {
  const servers = ["a", "b"].map((g) => startEcho({ greeting: `${g}\n` }));
  backends.push(...servers);
  const toml = simpleConfig(servers.map((s) => s.address), { workers: 2, logLevel: "info", global: "access_log = false" }) + `\n[admin]\ntoken = "${TOKEN}"\n`;
  aegis = await startAegis(toml, command ? { command } : {});
  return { a: aegis, servers };
}

async function post(a: Aegis, path: string, body: unknown) {
  const response = await fetch(`http://127.0.0.1:${a.metricsPort}${path}`, {
    method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(body),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** The snapshot sequence number last sent, and the last applied by each Worker, from /metrics. */
async function seqs(a: Aegis): Promise<{ sent: number; applied: number[] }> {
  const m = await a.metrics();
  const sent = m.get("aegis_snapshot_seq");
  if (sent === undefined) throw new Error("no aegis_snapshot_seq in /metrics");
  return { sent, applied: [0, 1].map((w) => m.get(`aegis_worker_snapshot_seq{worker="${w}"}`) ?? -1) };
}

async function greeting(port: number): Promise<string> {
  const c = await connect(port);
  clients.push(c);
  const text = await c.waitFor((t) => t.includes("\n"));
  c.socket.end();
  return text.trim();
}

test("a drain answered 200 is already applied in every Worker: no new session reaches the server after it", async () => {
  const { a, servers } = await start();
  const before = await seqs(a);
  expect(before.applied).toEqual([before.sent, before.sent]);
  const drained = await post(a, `/api/upstreams/app/servers/${encodeURIComponent(servers[0]!.address)}/state`, { state: "draining" });
  expect(drained.status).toBe(200);
  // No waiting: the answer itself says both Workers applied it.
  const after = await seqs(a);
  expect(after.sent).toBeGreaterThan(before.sent);
  for (const applied of after.applied) expect(applied).toBeGreaterThanOrEqual(after.sent);
  for (let i = 0; i < 20; i++) expect(await greeting(a.port)).toBe("b"); // 20 sessions: both Workers take some
  const weighted = await post(a, `/api/upstreams/app/servers/${encodeURIComponent(servers[1]!.address)}/weight`, { weight: 7 });
  expect(weighted.status).toBe(200);
  const last = await seqs(a);
  expect(last.sent).toBeGreaterThan(after.sent);
  expect(Math.min(...last.applied)).toBeGreaterThanOrEqual(last.sent);
});

test("a Worker that does not answer: the change is answered 504 naming it, and it catches up once it runs again", async () => {
  const { a, servers } = await start(WITH_FAULTS);
  // Worker 1's thread blocks for 12 s: well past the 5 s the API waits, however busy the machine.
  const stall = await fetch(`http://127.0.0.1:${a.metricsPort}/faults/stall-worker/1?ms=12000`, { method: "POST" });
  expect(stall.status).toBe(202);
  const answer = await post(a, `/api/upstreams/app/servers/${encodeURIComponent(servers[0]!.address)}/state`, { state: "disabled" });
  expect(answer.status).toBe(504);
  expect(answer.json.workers_missing).toEqual([1]);
  expect(String(answer.json.error)).toContain("Worker 1 did not confirm");
  const line = await a.waitForLog((l) => l.msg === "admin request" && l.status === 504);
  expect(line.applied).toBe(false);
  // The change was recorded, and Worker 1 applies it when its thread runs again.
  const target = answer.json.seq as number;
  await waitFor(async () => Math.min(...(await seqs(a)).applied) >= target, { timeoutMs: 30_000, what: "Worker 1 applied the snapshot after its stall" });
  for (let i = 0; i < 20; i++) expect(await greeting(a.port)).toBe("b");
}, 60_000);
