// Admin state and weight changes seen from real clients: a draining or disabled server keeps the
// sessions it has (bytes still flow both ways) and gets no new ones; ready restores it; a weight
// change shifts the spread exactly (one Worker, smooth weighted round robin).
import { describe, expect, test } from "bun:test";
import { startAegis, simpleConfig, type Aegis } from "./helpers/aegis.ts";
import { startEcho } from "./helpers/backends.ts";
import { connect, type Client } from "./helpers/client.ts";
import { expectIntact, pacedStreams } from "./helpers/streams.ts";
import { waitFor } from "./helpers/wait.ts";
import { stopAfterEach } from "./helpers/teardown.ts";

const TOKEN = "traffic-token-0123456789abcdef";
let aegis: Aegis | null = null;
const { backends, clients } = stopAfterEach(() => aegis);

async function start(names: string[], workers = 2, accessLog = false): Promise<Aegis> {
  for (const n of names) backends.push(startEcho({ greeting: `${n}\n` }));
  aegis = await startAegis(simpleConfig(backends.map((b) => b.address), { workers, logLevel: "info", global: `access_log = ${accessLog}` }) + `\n[admin]\ntoken = "${TOKEN}"\n`);
  return aegis;
}

async function post(a: Aegis, path: string, body: unknown): Promise<void> {
  const r = await fetch(`http://127.0.0.1:${a.metricsPort}/api/upstreams/app/servers/${path}`, {
    method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(body),
  });
  // A 200 comes only once every Worker acknowledged the new snapshot (a 504 says which did not):
  // new sessions see the change from here on, with no sleep to hope for it.
  expect(r.status).toBe(200);
}

/** Opens a session and returns it with the name of the server that greeted it. */
async function session(port: number): Promise<{ client: Client; server: string }> {
  const client = await connect(port);
  clients.push(client);
  const text = await client.waitFor((t) => t.includes("\n"));
  return { client, server: text.trim() };
}

async function greetings(port: number, n: number): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const { client, server } = await session(port);
    seen[server] = (seen[server] ?? 0) + 1;
    client.socket.end();
  }
  return seen;
}

/** Bytes still flow both ways on an established session. */
async function echoes(s: { client: Client; server: string }, payload: string): Promise<void> {
  s.client.write(payload);
  await s.client.waitFor((t) => t.endsWith(payload));
}

describe("admin state from a client's point of view", () => {
  for (const state of ["draining", "disabled"] as const) {
    test(`${state}: the session in flight goes on, new sessions go elsewhere; ready brings it back`, async () => {
      const a = await start(["a", "b"], 2, true);
      const inFlight: { client: Client; server: string }[] = [];
      for (let i = 0; i < 40 && inFlight.filter((s) => s.server === "a").length < 2; i++) inFlight.push(await session(a.port));
      const [onA, alsoOnA] = inFlight.filter((s) => s.server === "a");
      if (!onA || !alsoOnA) throw new Error("40 sessions and not two of them on server a");

      await post(a, "0/state", { state });
      await echoes(onA, "still here 1\n");
      // The access log says what state the server was in when a session on it ended.
      const address = backends[0]!.address;
      const seen = a.logs.length;
      alsoOnA.client.socket.end();
      const ended = await a.waitForLog((l) => a.logs.indexOf(l) >= seen && l.msg === "session" && l.server === address, 10_000);
      expect(ended).toMatchObject({ server_state: state, end: "client_closed" });
      expect(await greetings(a.port, 12)).toEqual({ b: 12 });
      await echoes(onA, "x".repeat(200_000));
      const m = await a.metrics();
      expect(m.get(`aegis_server_state{upstream="app",server="${backends[0]!.address}",state="${state}"}`)).toBe(1);
      expect(m.get(`aegis_upstream_connections_active{upstream="app",server="${backends[0]!.address}"}`)).toBe(1);

      await post(a, "0/state", { state: "ready" });
      const after = await greetings(a.port, 12);
      expect(after.a).toBeGreaterThan(0);
      expect(after.b).toBeGreaterThan(0);
      await echoes(onA, "and after\n");
      const later = a.logs.length;
      onA.client.socket.end();
      const back = await a.waitForLog((l) => a.logs.indexOf(l) >= later && l.msg === "session" && l.server === address, 10_000);
      expect(back.server_state).toBe("up");
    });
  }
});

describe("under load", () => {
  test("draining, then disabling, then readying a server while 40 streams run and new sessions keep coming: nothing fails, no byte is lost", async () => {
    backends.push(startEcho(), startEcho());
    aegis = await startAegis(simpleConfig(backends.map((b) => b.address), { workers: 2, global: "access_log = false" }) + `\n[admin]\ntoken = "${TOKEN}"\n`);
    const a = aegis;
    const load = pacedStreams(a.port, 40, 0.25, 16 * 1024 * 1024); // 11 MiB/s in all, not 43: the new sessions need the CPU too
    // The streams are running when their bytes move through aegis: measured, not assumed from time.
    const relayed = async () => (await a.metrics()).get('aegis_bytes_received_total{listener="main"}') ?? 0;
    const streamed = async (bytes: number) => { const from = await relayed(); await waitFor(async () => (await relayed()) >= from + bytes, { timeoutMs: 30_000, what: `${bytes} more bytes streamed` }); };
    try {
      let failures = 0;
      let sessions = 0;
      // New sessions one after another the whole time, each echoing a line.
      let churning = true;
      const churn = (async () => {
        for (let i = 0; churning && i < 2000; i++) {
          try {
            const c = await connect(a.port);
            c.write(`line ${i}\n`);
            await c.waitFor((t) => t === `line ${i}\n`, 15_000); // slow is not failed: a busy machine
            c.socket.end();
            sessions++;
          } catch {
            failures++;
          }
        }
      })();
      // Each change once new sessions have kept coming for a while (a count, not a time: on a busy
      // machine 300 ms may see none), and the next only after a few more.
      const more = (n: number) => { const mark = sessions + failures; return waitFor(() => sessions + failures >= mark + n, { timeoutMs: 30_000, what: `${n} more sessions` }); };
      await streamed(40 * 128 * 1024);
      await more(6);
      for (const state of ["draining", "disabled", "ready"]) {
        await post(a, "0/state", { state });
        await more(6);
      }
      await streamed(40 * 512 * 1024); // every stream well past expectIntact's 64 KiB after the changes
      churning = false;
      await churn;
      expectIntact(await load.finish(), 40);
      expect(failures).toBe(0);
      expect(sessions).toBeGreaterThan(20);
      const m = await a.metrics();
      expect(m.get('aegis_connections_rejected_total{listener="main",reason="no_server"}')).toBe(0);
    } finally {
      load.kill();
    }
  }, 150_000);
});

describe("weight", () => {
  test("changing a weight shifts the spread of new connections exactly", async () => {
    const a = await start(["a", "b"], 1);
    expect(await greetings(a.port, 20)).toEqual({ a: 10, b: 10 });
    await post(a, "0/weight", { weight: 3 });
    expect(await greetings(a.port, 40)).toEqual({ a: 30, b: 10 });
    await post(a, `${encodeURIComponent(backends[1]!.address)}/weight`, { weight: 4 });
    expect(await greetings(a.port, 70)).toEqual({ a: 30, b: 40 });
    await post(a, "0/weight", { weight: 1 });
    await post(a, "1/weight", { weight: 1 });
    expect(await greetings(a.port, 20)).toEqual({ a: 10, b: 10 });
  });

  test("a weight set through the API outlasts a reload of an unchanged file", async () => {
    const a = await start(["a", "b"], 1);
    await post(a, "0/weight", { weight: 4 });
    // The reload message carries the weights, as the start message of a restarted Worker does.
    const r = await fetch(`http://127.0.0.1:${a.metricsPort}/api/reload`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
    expect(r.status).toBe(200);
    expect(await greetings(a.port, 50)).toEqual({ a: 40, b: 10 });
  });
});
