// A Worker that crashes with sessions gives back everything they held: server places, queue places,
// per-IP counts and the gauges; it is restarted, and the other Worker's sessions go on untouched.
// The crash is real (an uncaught exception in the Worker), through the test-only fault hook.
import { expect, test } from "bun:test";
import { SOURCE_COMMAND, simpleConfig, startAegis, type Aegis } from "./helpers/aegis.ts";
import { startEcho } from "./helpers/backends.ts";
import { connect, type Client } from "./helpers/client.ts";
import { waitFor } from "./helpers/wait.ts";
import { stopAfterEach } from "./helpers/teardown.ts";

let aegis: Aegis | null = null;
const { backends, clients } = stopAfterEach(() => aegis);
/** aegis with the test-only fault hook on (Bun.spawn does not pass on changes to process.env). */
const WITH_FAULTS = ["/usr/bin/env", "AEGIS_TEST_FAULTS=1", ...SOURCE_COMMAND];

const PLACES = 4; // the server's max_connections
const PER_IP = 10; // the listener's max_connections_per_ip: every test client is 127.0.0.1
const QUEUED = 6;

interface Tracked {
  client: Client;
  tag: string;
  dead: boolean;
}

async function open(port: number, tag: string): Promise<Tracked> {
  const client = await connect(port);
  clients.push(client);
  const t: Tracked = { client, tag, dead: false };
  void client.ended.then(() => (t.dead = true)); // a FIN or a close: the test itself never ends one before the crash
  client.write(tag);
  return t;
}

const echoed = (t: Tracked) => t.client.text().startsWith(t.tag);

test("a crashed Worker's places, queue entries and per-IP counts come back; it restarts; the other Worker's sessions go on", async () => {
  const echo = startEcho();
  backends.push(echo);
  aegis = await startAegis(`
[global]
workers = 2
log_level = "info"
shutdown_grace = "1s"

[metrics]
listen = "127.0.0.1:0"

[[listener]]
name = "main"
bind = "127.0.0.1:0"
upstream = "app"
max_connections_per_ip = ${PER_IP}

[[upstream]]
name = "app"
servers = [{ address = "${echo.address}", max_connections = ${PLACES} }]
queue = 100
queue_timeout = "60s"
`, { command: WITH_FAULTS });
  const a = aegis;
  const metric = async (name: string) => (await a.metrics()).get(name) ?? 0;

  // Every place taken, then sessions waiting in the queue, spread over both Workers by the kernel.
  const sessions: Tracked[] = [];
  for (let i = 0; i < PLACES; i++) {
    const t = await open(a.port, `active${i};`);
    await t.client.waitFor(() => echoed(t));
    sessions.push(t);
  }
  for (let i = 0; i < QUEUED; i++) sessions.push(await open(a.port, `queued${i};`));
  await waitFor(async () => (await metric('aegis_connections_queued{listener="main"}')) === QUEUED, { what: `${QUEUED} sessions queued` });
  expect(await metric('aegis_connections_active{listener="main"}')).toBe(PLACES + QUEUED);

  // Crash Worker 0: its sessions die with it (that is how a test tells which Worker had which).
  const crash = await fetch(`http://127.0.0.1:${a.metricsPort}/faults/crash-worker/0`, { method: "POST" });
  expect(crash.status).toBe(202);
  await a.waitForLog((l) => l.msg === "worker exited unexpectedly, restarting" && l.worker === 0, 10_000);
  await a.waitForLog((l) => l.msg === "worker restarted" && l.worker === 0, 15_000);
  expect(await metric("aegis_workers")).toBe(2);
  // A dying Worker's sockets close with it; wait until every one of them has been seen ending.
  const survivors = await waitFor(async () => {
    const alive = sessions.filter((t) => !t.dead);
    const active = await metric('aegis_connections_active{listener="main"}');
    return active === alive.length ? alive : null;
  }, { what: "aegis_connections_active equal to the sessions still open" });
  const died = sessions.length - survivors.length;
  // The crashing Worker resets what it was relaying: a FIN would make a cut-off stream look complete.
  // (A FIN would leave the client half-open, its `closed` unresolved: bounded, that reads as "fin".)
  for (const t of sessions.filter((s) => s.dead)) {
    const how = await Promise.race([t.client.closed.then((e) => (e ? "reset" : "clean close")), Bun.sleep(10_000).then(() => "fin")]);
    expect(how).toBe("reset");
  }
  // With 10 sessions, both Workers got some unless the kernel sent all to one (p = 2^-9).
  expect(died).toBeGreaterThan(0);
  expect(survivors.length).toBeGreaterThan(0);

  // The dead Worker's places are free again: the survivors' queued sessions get them, in order.
  const placed = Math.min(PLACES, survivors.length);
  await waitFor(async () => {
    const queued = await metric('aegis_connections_queued{listener="main"}');
    return survivors.filter(echoed).length === placed && queued === survivors.length - placed;
  }, { what: `${placed} surviving sessions relayed and the rest queued (queue gauge back to the truth)` });

  // The surviving sessions go on untouched: each one relayed still echoes.
  for (const t of survivors.filter(echoed)) {
    t.client.write("more;");
    await t.client.waitFor((text) => text === `${t.tag}more;`);
  }

  // All ended: nothing is held anywhere, the per-IP table included.
  for (const t of survivors) t.client.socket.end();
  await waitFor(async () => {
    const m = await a.metrics();
    return m.get('aegis_connections_active{listener="main"}') === 0 && m.get('aegis_connections_queued{listener="main"}') === 0 && m.get("aegis_per_ip_entries") === 0;
  }, { what: "no connection, queued session or per-IP entry left" });

  // The truth, seen from new clients: the full per-IP cap and every server place are there again.
  const fresh: Tracked[] = [];
  for (let i = 0; i < PER_IP; i++) fresh.push(await open(a.port, `fresh${i};`));
  await waitFor(async () => fresh.filter(echoed).length === PLACES && (await metric('aegis_connections_queued{listener="main"}')) === PER_IP - PLACES,
    { what: `${PLACES} new sessions relayed and ${PER_IP - PLACES} queued` });
  expect(fresh.every((t) => !t.dead)).toBe(true);
  // ... and no more than that: one more from the same address is refused.
  const over = await open(a.port, "over;");
  await over.client.closed;
  expect(echoed(over)).toBe(false);
  expect(await metric('aegis_connections_rejected_total{listener="main",reason="per_ip_limit"}')).toBe(1);
}, 60_000);

test("without AEGIS_TEST_FAULTS=1 the fault hook does not exist", async () => {
  const echo = startEcho();
  backends.push(echo);
  aegis = await startAegis(simpleConfig([echo.address], { logLevel: "info" }));
  const crash = await fetch(`http://127.0.0.1:${aegis.metricsPort}/faults/crash-worker/0`, { method: "POST" });
  expect(crash.status).toBe(404);
  expect(await aegis.metrics()).toMatchObject(new Map([["aegis_workers", 2]]));
  expect(aegis.logs.some((l) => String(l.msg).includes("worker exited"))).toBe(false);
});
