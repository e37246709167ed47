// What a user sees of servers that change, through the compiled binary: servers from the file, from SRV
// (a real dnsmasq), from SQLite and from the admin API, each tagged with where it came from in the API,
// /metrics.json and the status page (real Chromium), named in /metrics, the access log and
// `aegis check`; and a Redis check against a real redis-server with requirepass and no password_file,
// whose last check (sent, reply, time, reason) says NOAUTH everywhere, never "did not match".
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import type { Browser } from "playwright-core";
import { startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { ensureBinary, run } from "./helpers/build.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { haveChromium, launchChromium } from "./helpers/browser.ts";
import { startRedis, type Redis } from "./helpers/redis.ts";
import { waitFor } from "./helpers/wait.ts";
import { startDnsmasq, type Dnsmasq } from "./discovery/dnsmasq.ts";

type Dom = any;
const TOKEN = "view-token-0123456789abcdef";
const NOAUTH = "the server requires a password (NOAUTH): set password_file";
let aegis: Aegis;
let dns: Dnsmasq;
let redis: Redis;
let browser: Browser | null = null;
let configPath = "";
const backends: Backend[] = [];

beforeAll(async () => {
  for (let i = 0; i < 4; i++) backends.push(startEcho());
  redis = await startRedis({ password: "only-the-app-knows" });
  dns = await startDnsmasq({ hosts: ["127.0.0.1 echo.test"], srv: [`_echo._tcp.test,echo.test,${backends[1]!.port},0,1`] });
  const dir = tempDir();
  const db = new Database(join(dir, "routing.db"));
  db.run(`CREATE TABLE backends (id TEXT PRIMARY KEY, app TEXT, region TEXT, wg_ip TEXT, port INTEGER, healthy INTEGER DEFAULT 1,
    weight INTEGER DEFAULT 1, soft_limit INTEGER DEFAULT 0, hard_limit INTEGER DEFAULT 0, deleted INTEGER DEFAULT 0)`);
  db.run("INSERT INTO backends (id, app, region, wg_ip, port, weight, soft_limit, hard_limit) VALUES ('node-s', 'echo', 'eu-west', '127.0.0.1', ?, 4, 10, 20)", [backends[2]!.port]);
  db.close();
  const toml = `
[global]
workers = 2
log_level = "info"
resolvers = ["127.0.0.1:${dns.port}"]
[metrics]
listen = "127.0.0.1:0"
[admin]
token = "${TOKEN}"
[[listener]]
name = "main"
bind = "127.0.0.1:0"
upstream = "app"
[[listener]]
name = "cache"
bind = "127.0.0.1:0"
upstream = "cache"
[[upstream]]
name = "app"
servers = [{ name = "from-file", address = "${backends[0]!.address}" }]
discovery = [{ srv = "_echo._tcp.test", interval = "200ms" }, { sqlite = "${join(dir, "routing.db")}", app = "echo", interval = "200ms" }]
[[upstream]]
name = "cache"
servers = [{ name = "r1", address = "127.0.0.1:${redis.port}" }]
health = { check = "redis", interval = "300ms", timeout = "300ms", rise = 1, fall = 1 }
`;
  configPath = join(dir, "aegis.toml");
  writeFileSync(configPath, toml);
  aegis = await startAegis(toml, { command: [ensureBinary()], cwd: dir });
  if (!haveChromium()) throw new Error("Chromium is not installed: bash scripts/setup.sh --test installs it");
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await aegis?.stop("SIGKILL");
  dns?.stop();
  redis?.stop();
  for (const b of backends) b.stop();
});

const api = async (path: string, init: RequestInit = {}) =>
  (await fetch(`http://127.0.0.1:${aegis.metricsPort}/api${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}` } })).json() as Promise<any>;

test("each server's source in the API and /metrics.json; names in /metrics and the access log", async () => {
  expect((await (await fetch(`http://127.0.0.1:${aegis.metricsPort}/api/upstreams/app/servers`, {
    method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ address: backends[3]!.address, name: "via-api" }),
  })).status)).toBe(201);
  const want = { "from-file": "file", [`echo.test:${backends[1]!.port}`]: "srv", "node-s": "sqlite", "via-api": "api" };
  const sources = async () => Object.fromEntries(((await api("/upstreams/app")).servers as any[]).map((s) => [s.name, s.source]));
  await waitFor(async () => JSON.stringify(await sources()) === JSON.stringify(want), { timeoutMs: 15_000, what: "four servers from four sources" });
  const json = (await (await fetch(`http://127.0.0.1:${aegis.metricsPort}/metrics.json`)).json()) as any;
  const app = json.upstreams.find((u: any) => u.name === "app");
  expect(Object.fromEntries(app.servers.map((s: any) => [s.name, s.source]))).toEqual(want);
  // The SQLite row's region, weight and limits came with it.
  expect(app.servers.find((s: any) => s.name === "node-s")).toMatchObject({ weight: 4, region: "eu-west", soft_limit: 10, max_connections: 20 });
  expect(json.discovery.map((d: any) => d.source).sort()).toEqual([`sqlite:${join(configPath, "..", "routing.db")}#echo`, "srv:_echo._tcp.test"]);

  // Weighted round robin in each Worker: new sessions reach every server, each named in the access log and /metrics.
  for (const name of Object.keys(want)) {
    await waitFor(async () => {
      const s = await Bun.connect({ hostname: "127.0.0.1", port: aegis.port, socket: { data() {} } });
      s.end();
      return aegis.logs.some((l) => l.msg === "session" && l.server === name);
    }, { timeoutMs: 15_000, what: `a session on ${name} in the access log` });
    await waitFor(async () => ((await aegis.metrics()).get(`aegis_upstream_connections_total{upstream="app",server="${name}"}`) ?? 0) > 0, { what: `${name} in /metrics` });
  }
}, 60_000);

test("NOAUTH says so: in the API's last_check, /metrics.json and the server state log", async () => {
  const down = await aegis.waitForLog((l) => l.msg === "server state" && l.server === "r1" && l.to === "down", 15_000);
  expect(String(down.reason)).toContain(NOAUTH);
  const last = (await api("/upstreams/cache")).servers[0].health.last_check;
  expect(last).toMatchObject({ ok: false, sent: "PING", reason: NOAUTH });
  expect(last.reply).toStartWith("-NOAUTH");
  expect(last.ms).toBeGreaterThanOrEqual(0);
  expect(Date.parse(last.at)).toBeGreaterThan(0);
  const json = (await (await fetch(`http://127.0.0.1:${aegis.metricsPort}/metrics.json`)).json()) as any;
  expect(json.upstreams.find((u: any) => u.name === "cache").servers[0].health.last_check).toMatchObject({ ok: false, sent: "PING", reason: NOAUTH });
});

test("the status page tags each server with its source and shows the failed check's reason", async () => {
  const page = await browser!.newPage({ viewport: { width: 1400, height: 900 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${aegis.metricsPort}/`);
  await page.waitForFunction(() => (globalThis as Dom).document.querySelector(`tr[data-server="via-api"]`) !== null, undefined, { timeout: 15_000 });
  const tags = await page.evaluate(() => Object.fromEntries([...(globalThis as Dom).document.querySelectorAll("[data-upstream=app] tr[data-server]")]
    .map((row: Dom) => [row.getAttribute("data-server"), row.querySelector(".tag.source")?.textContent ?? null])));
  expect(tags).toEqual({ "from-file": "file", [`echo.test:${backends[1]!.port}`]: "srv", "node-s": "sqlite", "via-api": "api" });
  // An upstream whose servers all come from the file carries no tags: there is nothing to tell apart.
  expect(await page.evaluate(() => (globalThis as Dom).document.querySelectorAll("[data-upstream=cache] .tag.source").length)).toBe(0);
  await page.waitForFunction(() => (globalThis as Dom).document.querySelector(`tr[data-server="r1"] td.health small`)?.textContent?.startsWith("check failed"), undefined, { timeout: 15_000 });
  const health = await page.evaluate(() => {
    const cell = (globalThis as Dom).document.querySelector(`tr[data-server="r1"] td.health`);
    return { text: cell.querySelector("small").textContent, title: cell.title };
  });
  expect(health.text).toStartWith(`check failed: ${NOAUTH} · `);
  expect(health.title).toContain("sent: PING");
  expect(health.title).toContain("reply: -NOAUTH");
  expect(errors).toEqual([]);
  await page.close();
}, 60_000);

test("aegis check names the servers and shows health, discovery and backups", async () => {
  const r = await run([ensureBinary(), "check", "--config", configPath]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("from-file");
  expect(r.stdout).toContain("r1");
  expect(r.stdout).toContain("health redis PING, every 300ms");
  expect(r.stdout).toContain("discovery srv _echo._tcp.test (lowest priority primary, others backup)");
  expect(r.stdout).toMatch(/discovery sqlite \S*routing\.db table backends app echo, polled every 200ms/);
});
