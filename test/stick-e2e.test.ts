// Sticky clients through the compiled binary with two Workers: the shared table seen from the admin API and /metrics,
// expiry, re-picks when a server dies, is disabled or removed, reloads, racing Workers, HAProxy's PROXY header in front,
// and removal by the operator.
//
// Why the re-pick checks are deterministic with round_robin in two Workers: each Worker's rotation
// is its own, and with equal weights it never gives the same server twice in a row. So when one
// client alone is picked for three times in a row (nobody else is balanced meanwhile), the three
// picks cannot all name one server: two of them came from the same Worker, one after the other.
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { startAegis, tempDir, type Aegis, type LogLine } from "./helpers/aegis.ts";
import { closedPort, startEcho, type Backend } from "./helpers/backends.ts";
import { ensureBinary } from "./helpers/build.ts";
import { startHaproxy, type Haproxy } from "./helpers/haproxy.ts";
import { snapshotsApplied, waitFor, within } from "./helpers/wait.ts";

const TOKEN = "stick-e2e-token-0123456789abcdef";
const TEST_MS = 90_000;

let aegis: Aegis | null = null;
const backends: Backend[] = [];
const held: Held[] = [];
let haproxy: Haproxy | null = null;
afterEach(async () => {
  for (const h of held.splice(0)) h.destroy();
  await haproxy?.stop();
  haproxy = null;
  await aegis?.stop("SIGKILL");
  aegis = null;
  for (const b of backends.splice(0)) b.stop();
});

/** Echo servers greeting with their names; `nameOf` turns a server address (as the admin API shows it) back into one. */
const names = new Map<string, string>();
function echoes(...letters: string[]): Backend[] {
  const started = letters.map((n) => startEcho({ greeting: `${n}\n` }));
  started.forEach((b, i) => names.set(b.address, letters[i]!));
  backends.push(...started);
  return started;
}
const nameOf = (address: string | null) => (address === null ? null : (names.get(address) ?? address));

interface Options { ttl?: string; health?: boolean; listener?: string }
function config(servers: Backend[], o: Options = {}): string {
  const health = o.health ? `health = { interval = "300ms", timeout = "300ms", rise = 1, fall = 2 }` : "";
  return `
[global]
workers = 2
log_level = "info"
shutdown_grace = "5s"

[metrics]
listen = "127.0.0.1:0"

[admin]
token = "${TOKEN}"

[[listener]]
name = "main"
bind = "127.0.0.1:0"
upstream = "app"
${o.listener ?? ""}

[[listener]]
name = "other"
bind = "127.0.0.1:0"
upstream = "plain"

[[upstream]]
name = "app"
balance = "round_robin"
servers = [${servers.map((s) => `"${s.address}"`).join(", ")}]
stick = { on = "source", ttl = "${o.ttl ?? "30m"}", max_entries = 1000 }
${health}

[[upstream]]
name = "plain"
servers = ["${servers[0]!.address}"]
`;
}

async function start(servers: Backend[], o: Options = {}): Promise<Aegis> {
  aegis = await startAegis(config(servers, o), { command: [ensureBinary()], cwd: tempDir() });
  return aegis;
}

/** A session from `source` that has been greeted by its server; `end` half-closes and waits for the close. */
interface Held { readonly server: string; end(): Promise<void>; destroy(): void }
function openFrom(source: string, port: number, timeoutMs = 10_000): Promise<Held> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: "127.0.0.1", port, localAddress: source });
    const closed = new Promise<void>((r) => socket.once("close", () => r()));
    let text = "";
    const fail = (why: string) => (clearTimeout(timer), socket.destroy(), reject(new Error(`session from ${source}: ${why} (received ${JSON.stringify(text)})`)));
    const timer = setTimeout(() => fail(`no greeting within ${timeoutMs} ms`), timeoutMs);
    socket.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      if (!text.includes("\n")) return;
      clearTimeout(timer);
      const h: Held = {
        server: text.slice(0, text.indexOf("\n")),
        end: () => (socket.end(), within(closed, timeoutMs, `session from ${source} closed`)),
        destroy: () => socket.destroy(),
      };
      held.push(h);
      resolve(h);
    });
    socket.on("error", (err: Error) => fail(err.message));
    socket.on("close", () => fail("closed before a greeting"));
  });
}

/** One whole session from `source`: the name of the server that greeted it. */
async function sessionFrom(source: string, port: number): Promise<string> {
  const h = await openFrom(source, port);
  await h.end();
  return h.server;
}

async function api(a: Aegis, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`http://127.0.0.1:${a.metricsPort}${path}`, {
    method, headers: { authorization: `Bearer ${TOKEN}` }, ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

interface StickRow { client: string; server: string | null; sessions: number; idle_ms: number; expires_in_ms: number | null }
interface StickView { upstream: string; ttl_ms: number; max_entries: number; capacity: number; entries: number; shown: number; clients: StickRow[] }
async function stick(a: Aegis): Promise<StickView> {
  const { status, body } = await api(a, "GET", "/api/upstreams/app/stick");
  if (status !== 200) throw new Error(`GET stick answered ${status}: ${JSON.stringify(body)}`);
  return body as unknown as StickView;
}
/** client -> [server name, sessions], sorted by client. */
async function placements(a: Aegis): Promise<Record<string, [string | null, number]>> {
  const rows = (await stick(a)).clients.sort((x, y) => x.client.localeCompare(y.client));
  return Object.fromEntries(rows.map((r) => [r.client, [nameOf(r.server), r.sessions]]));
}
const rowOf = async (a: Aegis, client: string) => (await stick(a)).clients.find((r) => r.client === client) ?? null;
/** Waits until `client`'s entry has no session open (the Worker has seen both ends close) and returns it. */
const settled = (a: Aegis, client: string) => waitFor(async () => {
  const row = await rowOf(a, client);
  return row !== null && row.sessions === 0 ? row : false;
}, { what: `${client}'s entry with no session open` });

/** Placements once no entry has a session open: every session the test ended has ended in aegis too. */
async function quiet(a: Aegis): Promise<Record<string, [string | null, number]>> {
  await waitFor(async () => (await stick(a)).clients.every((r) => r.sessions === 0) || false, { what: "every session released" });
  return placements(a);
}

/** The access log's lines for the sessions of `source`. */
const sessionsOf = (a: Aegis, source: string): LogLine[] => a.logs.filter((l) => l.msg === "session" && String(l.client).startsWith(`${source}:`));
/** The access log line of `source`'s `nth` session (from 1), once written: the client may see its close first. */
const nthSessionOf = (a: Aegis, source: string, nth: number) => waitFor(() => sessionsOf(a, source)[nth - 1], { what: `access log line of ${source}'s session ${nth}` });
const configPath = (a: Aegis) => String(a.logs.find((l) => l.msg === "ready")!.config);
async function reload(a: Aegis, text: string): Promise<LogLine> {
  const seen = a.logs.length;
  writeFileSync(configPath(a), text);
  a.proc.kill("SIGHUP");
  const line = await a.waitForLog((l) => a.logs.indexOf(l) >= seen && (l.msg === "reloaded" || l.msg === "reload failed, the running configuration stays"));
  expect(line.msg).toBe("reloaded");
  return line;
}
const addresses = (prefix: string, first: number, count: number) => Array.from({ length: count }, (_, i) => `${prefix}.${first + i}`);

/**
 * Re-pick `client` up to three times, `forget` making each one necessary (the entry expiring,
 * or being deleted): returns the servers it went to, which the header's argument makes at least two.
 */
async function repicks(a: Aegis, client: string, first: string, forget: () => Promise<void>): Promise<string[]> {
  const seen = [first];
  for (let round = 0; round < 2 && new Set(seen).size === 1; round++) {
    await forget();
    expect(await rowOf(a, client)).toBeNull();
    const server = await sessionFrom(client, a.port);
    expect(nameOf((await settled(a, client)).server)).toBe(server); // re-created, naming the new pick
    seen.push(server);
  }
  return seen;
}

describe("stick through the binary, two Workers", () => {
  test("an address keeps its server within the ttl; addresses are spread; GET stick and aegis_stick_entries show them", async () => {
    const a = await start(echoes("a", "b", "c"));
    const clients = addresses("127.0.0", 10, 12);
    const went: Record<string, string[]> = {};
    for (let round = 0; round < 4; round++) {
      for (const c of clients) (went[c] ??= []).push(await sessionFrom(c, a.port));
    }
    for (const c of clients) expect({ c, servers: [...new Set(went[c])] }).toEqual({ c, servers: [went[c]![0]!] });
    // 12 fresh picks over two rotations: one Worker made 6 or more, so each server has 2 clients at least.
    const shares: Record<string, number> = {};
    for (const c of clients) shares[went[c]![0]!] = (shares[went[c]![0]!] ?? 0) + 1;
    expect(Object.keys(shares).sort()).toEqual(["a", "b", "c"]);
    for (const n of Object.values(shares)) expect(n).toBeGreaterThanOrEqual(2);
    for (const c of clients) {
      await nthSessionOf(a, c, 4);
      expect(sessionsOf(a, c).map((l) => nameOf(l.server as string))).toEqual(went[c]!);
    }

    await quiet(a);
    const open = await openFrom(clients[0]!, a.port);
    expect(open.server).toBe(went[clients[0]!]![0]!);
    const view = await stick(a);
    expect(view).toMatchObject({ upstream: "app", ttl_ms: 1_800_000, max_entries: 1000, entries: 12, shown: 12 });
    expect(view.capacity).toBeGreaterThanOrEqual(1000);
    for (const row of view.clients) {
      expect(nameOf(row.server)).toBe(went[row.client]![0]!);
      if (row.client === clients[0]) expect(row).toMatchObject({ sessions: 1, idle_ms: 0, expires_in_ms: null });
      else {
        expect(row.sessions).toBe(0);
        expect(row.idle_ms).toBeGreaterThanOrEqual(0);
        expect(row.expires_in_ms).toBe(view.ttl_ms - row.idle_ms);
      }
    }
    expect(view.clients.map((r) => r.client).sort()).toEqual([...clients].sort());
    const m = await a.metrics();
    expect(m.get(`aegis_stick_entries{upstream="app"}`)).toBe(12);
    expect(m.get(`aegis_stick_capacity{upstream="app"}`)).toBe(view.capacity);
    const json = (await (await fetch(`http://127.0.0.1:${a.metricsPort}/metrics.json`)).json()) as { stick: unknown };
    expect(json.stick).toEqual([{ upstream: "app", entries: 12, capacity: view.capacity }]);

    // Idle time counts from the end of the last session, in 100 ms ticks: never more than the time since.
    const ending = performance.now();
    await open.end();
    const idle = await waitFor(async () => {
      const row = await settled(a, clients[0]!);
      return row.idle_ms >= 300 ? row : false;
    }, { what: `${clients[0]}'s idle time reaching 300 ms` });
    expect(idle.idle_ms).toBeLessThanOrEqual(performance.now() - ending + 100);
    expect(idle.expires_in_ms).toBe(view.ttl_ms - idle.idle_ms);
  }, TEST_MS);

  test("after the ttl the entry is gone and the client is picked anew (a new server within three picks)", async () => {
    const a = await start(echoes("a", "b", "c"), { ttl: "1s" });
    const client = "127.0.0.30";
    const first = await openFrom(client, a.port);
    // While a session is open the entry cannot expire: a second one goes to the same server, however slow the machine.
    expect(await sessionFrom(client, a.port)).toBe(first.server);
    const during = await waitFor(async () => {
      const row = await rowOf(a, client);
      return row?.sessions === 1 ? row : false;
    }, { what: "the second session released" });
    // (Names first: Bun 1.4.5's toMatchObject writes an asymmetric matcher such as expect.any into the object it checks.)
    expect(nameOf(during.server)).toBe(first.server);
    expect(during).toMatchObject({ sessions: 1, idle_ms: 0, expires_in_ms: null });
    await first.end();
    const row = await settled(a, client);
    expect(row.expires_in_ms).toBeLessThanOrEqual(1000);
    const expired = async () => {
      await waitFor(async () => (await rowOf(a, client)) === null, { what: `${client}'s entry expired`, timeoutMs: 15_000 });
      expect((await a.metrics()).get(`aegis_stick_entries{upstream="app"}`)).toBe(0);
    };
    const went = await repicks(a, client, first.server, expired);
    expect(new Set(went).size).toBe(2);
  }, TEST_MS);

  test.each([false, true])("a stuck client's server is killed (health checks: %p): its next session goes to another, and the entry follows", async (health) => {
    const servers = echoes("a", "b", "c");
    const a = await start(servers, { health });
    const client = "127.0.0.31";
    const before = await sessionFrom(client, a.port);
    expect(nameOf((await settled(a, client)).server)).toBe(before);
    const victim = servers.find((s) => names.get(s.address) === before)!;
    victim.stop();
    if (health) {
      await a.waitForLog((l) => l.msg === "server state" && l.server === victim.address && l.to === "down", 15_000);
      expect(await rowOf(a, client)).toBeNull(); // dropped by the main thread as it published the change
      await snapshotsApplied(a.metricsPort);
    }
    const after = await sessionFrom(client, a.port);
    expect(after).not.toBe(before);
    // Without checks the session found out itself: a refused connect, then a retry elsewhere.
    expect(await nthSessionOf(a, client, 2)).toMatchObject({ server: servers.find((s) => names.get(s.address) === after)!.address, attempts: health ? 1 : 2 });
    expect(nameOf((await settled(a, client)).server)).toBe(after);
    expect(await sessionFrom(client, a.port)).toBe(after);
  }, TEST_MS);

  test("entries go at once when their server is disabled through the admin API, and when a reload removes it", async () => {
    const servers = echoes("a", "b", "c");
    const a = await start(servers);
    const clients = addresses("127.0.0", 40, 6);
    for (const c of clients) await sessionFrom(c, a.port);
    const before = await quiet(a);
    // 6 fresh picks over two rotations: one Worker made 3, so every server has a client.
    expect(new Set(Object.values(before).map(([s]) => s))).toEqual(new Set(["a", "b", "c"]));

    const disabled = servers[0]!;
    const set = await api(a, "POST", `/api/upstreams/app/servers/${encodeURIComponent(disabled.address)}/state`, { state: "disabled" });
    expect(set.status).toBe(200);
    const kept = Object.fromEntries(Object.entries(before).filter(([, [s]]) => s !== "a"));
    expect(await placements(a)).toEqual(kept);
    const moved = Object.keys(before).filter((c) => before[c]![0] === "a");
    for (const c of moved) expect(await sessionFrom(c, a.port)).not.toBe("a");

    // A reload drops server b: its clients' entries go with it, the others stay as they are.
    const afterDisable = await quiet(a);
    await reload(a, config([servers[0]!, servers[2]!]));
    expect(await placements(a)).toEqual(Object.fromEntries(Object.entries(afterDisable).filter(([, [s]]) => s !== "b")));
    for (const c of Object.keys(afterDisable).filter((c) => afterDisable[c]![0] === "b")) expect(await sessionFrom(c, a.port)).toBe("c"); // a is disabled
  }, TEST_MS);

  test("a reload that keeps the upstream keeps its entries, open sessions counted", async () => {
    const a = await start(echoes("a", "b", "c"));
    const clients = addresses("127.0.0", 50, 6);
    const went: Record<string, string> = {};
    for (const c of clients) went[c] = await sessionFrom(c, a.port);
    await quiet(a);
    const open = await openFrom(clients[0]!, a.port);
    const before = await placements(a);
    expect(before[clients[0]!]).toEqual([went[clients[0]!]!, 1]);
    const line = await reload(a, config(backends, { listener: `idle_timeout = "5m"` }));
    expect(line.changes).toEqual(["listeners.main.idle_timeout: 10m -> 5m"]);
    expect(await placements(a)).toEqual(before);
    for (const c of clients) expect(await sessionFrom(c, a.port)).toBe(went[c]!);
    await open.end();
    expect((await settled(a, clients[0]!)).server).not.toBeNull();
  }, TEST_MS);

  test("50 connections at once from each of 10 fresh addresses: one server per address, whichever Worker took each (3 rounds)", async () => {
    const a = await start(echoes("a", "b", "c"));
    const PER_CLIENT = 50;
    for (let round = 0; round < 3; round++) {
      const clients = addresses(`127.0.${round + 1}`, 20, 10);
      // Every connection started before any is greeted; all stay open until the entries are read.
      const opened = await Promise.all(clients.flatMap((c) => Array.from({ length: PER_CLIENT }, () => openFrom(c, a.port, 20_000).then((h) => [c, h] as const))));
      const servers: Record<string, Set<string>> = {};
      for (const [c, h] of opened) (servers[c] ??= new Set()).add(h.server);
      for (const c of clients) expect({ c, servers: [...servers[c]!] }).toEqual({ c, servers: [[...servers[c]!][0]!] });
      const rows = (await stick(a)).clients.filter((r) => clients.includes(r.client));
      expect(rows.length).toBe(clients.length);
      for (const r of rows) expect({ c: r.client, server: nameOf(r.server), sessions: r.sessions }).toEqual({ c: r.client, server: [...servers[r.client]!][0]!, sessions: PER_CLIENT });
      await Promise.all(opened.map(([, h]) => h.end()));
      held.splice(0);
      for (const c of clients) await settled(a, c);
    }
    expect((await a.metrics()).get(`aegis_stick_entries{upstream="app"}`)).toBe(30);
  }, TEST_MS);

  test("behind HAProxy's send-proxy-v2, clients are stuck by the address the PROXY header gives, not HAProxy's", async () => {
    const a = await start(echoes("a", "b", "c"), { listener: `proxy_protocol = "v2"\nproxy_protocol_from = ["127.0.0.1/32"]` });
    const port = closedPort();
    haproxy = await startHaproxy(`
listen to_aegis
    bind 127.0.0.1:${port}
    server aegis 127.0.0.1:${a.port} send-proxy-v2
`);
    const clients = addresses("127.0.0", 80, 6);
    const went: Record<string, string[]> = {};
    for (let round = 0; round < 3; round++) {
      for (const c of clients) (went[c] ??= []).push(await sessionFrom(c, port));
    }
    for (const c of clients) expect({ c, servers: [...new Set(went[c])] }).toEqual({ c, servers: [went[c]![0]!] });
    expect(new Set(clients.map((c) => went[c]![0]!))).toEqual(new Set(["a", "b", "c"])); // 6 fresh picks: one Worker made 3
    expect(await quiet(a)).toEqual(Object.fromEntries(clients.map((c) => [c, [went[c]![0]!, 0]])));
  }, TEST_MS);

  test("DELETE removes one entry (that client is picked anew) or all; bad requests are answered clearly", async () => {
    const a = await start(echoes("a", "b", "c"));
    const clients = addresses("127.0.0", 60, 4);
    for (const c of clients) await sessionFrom(c, a.port);
    const target = clients[0]!;
    const first = nameOf((await settled(a, target)).server)!;
    for (const c of clients.slice(1)) await settled(a, c);
    const others = Object.fromEntries(Object.entries(await placements(a)).filter(([c]) => c !== target));
    const removeTarget = async () => {
      expect(await api(a, "DELETE", `/api/upstreams/app/stick/${target}`)).toEqual({ status: 200, body: { upstream: "app", removed: 1 } });
      expect(Object.fromEntries(Object.entries(await placements(a)).filter(([c]) => c !== target))).toEqual(others);
    };
    const went = await repicks(a, target, first, removeTarget);
    expect(new Set(went).size).toBe(2);
    expect(await api(a, "DELETE", `/api/upstreams/app/stick/${target}`)).toMatchObject({ status: 200, body: { removed: 1 } });
    expect(await api(a, "DELETE", `/api/upstreams/app/stick/${target}`)).toMatchObject({ status: 200, body: { removed: 0 } });
    expect(a.logs.some((l) => l.msg === "admin request" && l.action === "unstick client" && l.client === target)).toBe(true);

    expect(await api(a, "DELETE", "/api/upstreams/app/stick")).toEqual({ status: 200, body: { upstream: "app", removed: clients.length - 1 } });
    expect((await stick(a)).clients).toEqual([]);
    expect((await a.metrics()).get(`aegis_stick_entries{upstream="app"}`)).toBe(0);

    const refused = async (method: string, path: string, status: number, says: string) => {
      const res = await api(a, method, path);
      expect({ status: res.status, error: String(res.body.error) }).toEqual({ status, error: expect.stringContaining(says) });
    };
    await refused("GET", "/api/upstreams/nope/stick", 404, `no upstream named "nope"`);
    await refused("DELETE", "/api/upstreams/nope/stick/127.0.0.1", 404, `no upstream named "nope"`);
    await refused("GET", "/api/upstreams/plain/stick", 404, `upstream "plain" has no stick table`);
    await refused("DELETE", "/api/upstreams/plain/stick", 404, `upstream "plain" has no stick table`);
    await refused("DELETE", "/api/upstreams/plain/stick/127.0.0.1", 404, `upstream "plain" has no stick table`);
    await refused("DELETE", "/api/upstreams/app/stick/not-an-address", 400, `"not-an-address" is not a client address`);
    await refused("DELETE", "/api/upstreams/app/stick/127.0.0.256", 400, "is not a client address");
    await refused("DELETE", "/api/upstreams/app/stick/10.0.0.0%2F24", 400, "is not a client address");
    expect(await api(a, "DELETE", "/api/upstreams/app/stick/2001:db8:1:2::%2F64")).toEqual({ status: 200, body: { upstream: "app", removed: 0 } });
    await refused("GET", "/api/upstreams/app/stick?limit=0", 400, "limit must be an integer");
    await refused("POST", "/api/upstreams/app/stick", 405, "");
    const anonymous = await fetch(`http://127.0.0.1:${a.metricsPort}/api/upstreams/app/stick`, { method: "DELETE" });
    expect(anonymous.status).toBe(401);
  }, TEST_MS);
});
