// Takes docs/status.png: aegis with two listeners, five servers and live traffic, one server drained
// and one killed through the run, then the status page in headless Chromium.
//   bun scripts/status-screenshot.ts [--seconds 75] [--out docs/status.png]
// Needs /usr/bin/chromium (Debian's chromium; `bash scripts/setup.sh --test` installs it).
import type { Socket } from "bun";
import { startAegis } from "../test/helpers/aegis.ts";
import { launchChromium } from "../test/helpers/browser.ts";

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const SECONDS = Number(arg("--seconds", "75"));
const OUT = arg("--out", new URL("../docs/status.png", import.meta.url).pathname);
const TOKEN = "screenshot-token-0123456789abcdef";

/** A web-like backend: answers each request with a response four times its size. */
function webServer() {
  return Bun.listen({
    hostname: "127.0.0.1", port: 0,
    socket: { data(s, d) { s.write(new Uint8Array(d.length * 4)); } },
  });
}
/** A cache-like backend: echoes. */
function cacheServer() {
  return Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data(s, d) { s.write(d); } } });
}

const web = [webServer(), webServer(), webServer()];
const cache = [cacheServer(), cacheServer(), cacheServer()];
const addr = (s: { port: number }) => `127.0.0.1:${s.port}`;

const aegis = await startAegis(`
[global]
workers = 2
log_level = "info"
access_log = false

[metrics]
listen = "127.0.0.1:0"

[admin]
token = "${TOKEN}"

[[listener]]
name = "web"
bind = "127.0.0.1:0"
upstream = "web"

[[listener]]
name = "cache"
bind = "127.0.0.1:0"
upstream = "redis"

[[upstream]]
name = "web"
balance = "least_conn"
health = { interval = "1s", timeout = "500ms", rise = 2, fall = 2 }
servers = [${web.map((s) => `"${addr(s)}"`).join(", ")}]

[[upstream]]
name = "redis"
health = { interval = "1s", timeout = "500ms", rise = 2, fall = 2 }
servers = ["${addr(cache[0]!)}", "${addr(cache[1]!)}", { address = "${addr(cache[2]!)}", backup = true }]
`);
const base = `http://127.0.0.1:${aegis.metricsPort}`;
const api = (path: string, body: unknown) =>
  fetch(`${base}/api${path}`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(body) });

// Traffic: short web requests at a rate that swells and ebbs, and long cache sessions that stream.
let running = true;
const started = performance.now();
const webRate = () => 35 + 25 * Math.sin((performance.now() - started) / 9000);
async function webLoop() {
  while (running) {
    const n = Math.round(webRate() / 10);
    for (let i = 0; i < n; i++) void webRequest();
    await Bun.sleep(100);
  }
}
async function webRequest() {
  const hold = 300 + Math.random() * 2500;
  const size = 2_000 + Math.floor(Math.random() * 30_000);
  try {
    const socket = await Bun.connect({ hostname: "127.0.0.1", port: aegis.ports.web!, socket: { data() {}, error() {} } });
    socket.write(new Uint8Array(size));
    setTimeout(() => socket.end(), hold);
  } catch { /* a refused connect is part of the picture */ }
}
const streams: Socket[] = [];
for (let i = 0; i < 24; i++) {
  streams.push(await Bun.connect({ hostname: "127.0.0.1", port: aegis.ports.cache!, socket: { data() {}, error() {} } }));
}
const cacheTimer = setInterval(() => {
  const burst = 1 + Math.abs(Math.sin((performance.now() - started) / 6000)) * 3;
  for (const s of streams) s.write(new Uint8Array(Math.floor(6_000 * burst)));
}, 50);
void webLoop();

// The story the page tells: a drain, a weight change, a server that dies.
const at = (s: number, f: () => unknown) => setTimeout(f, s * 1000);
at(SECONDS * 0.3, () => api(`/upstreams/web/servers/2/state`, { state: "draining" }));
at(SECONDS * 0.45, () => api(`/upstreams/web/servers/0/weight`, { weight: 3 }));
at(SECONDS * 0.6, () => cache[1]!.stop(true));

// The main thread keeps the charts' last minutes (/metrics.json?history): the page opens at the end.
await Bun.sleep(SECONDS * 1000);
const browser = await launchChromium();
// Wide enough for the recent changes beside the servers' table.
const page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, deviceScaleFactor: 1 });
await page.goto(base + "/");
// Rates need two polls.
await page.waitForFunction(() => !((globalThis as unknown as { document: { getElementById(id: string): { textContent: string | null } | null } }).document.getElementById("t-rate")?.textContent ?? "–").startsWith("–"), undefined, { timeout: 15_000 });
await page.screenshot({ path: OUT, fullPage: true });
await browser.close();
running = false;
clearInterval(cacheTimer);
for (const s of streams) s.end();
await aegis.stop();
for (const s of [...web, ...cache]) s.stop(true);
console.log(`wrote ${OUT}`);
