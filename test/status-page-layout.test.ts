// The status page of the compiled binary in headless Chromium: nothing overflows at 1400, 760 and 390
// px, the stacked chart has a legend and the charts a time axis, a page opened late draws the
// minutes before it, each server shows its bytes, limits, latency and last check, and a refused
// reload (SIGHUP on a broken file) shows as a banner until a reload is taken (POST /api/reload).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { simpleConfig, startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { CHROMIUM_PATH, haveChromium, launchChromium } from "./helpers/browser.ts";
import { ensureBinary } from "./helpers/build.ts";
import { exchangeFrom } from "./helpers/haproxy.ts";
import { waitFor } from "./helpers/wait.ts";

const TOKEN = "status-layout-token-0123456789abcdef";
let browser: Browser;
let aegis: Aegis;
let origin: string;
let configPath: string;
const backends: Backend[] = [];

/** The DOM as the page functions below use it: the project's tsconfig has no DOM types. */
type Dom = any;

interface MetricsJson {
  time: string;
  listeners: { bytes_received_total: number; bytes_sent_total: number }[];
  upstreams: { servers: { name: string; bytes_received_total: number; bytes_sent_total: number; connections_total: number; connect_seconds: { p50: number | null } }[] }[];
  history?: { times: number[]; listeners: Record<string, { connections_per_second: (number | null)[] }> };
  reloads: { ok: number; failed: number; last_failure: { at: string; error: string } | null };
}
const metricsJson = async (query = ""): Promise<MetricsJson> => (await fetch(`${origin}/metrics.json${query}`)).json() as Promise<MetricsJson>;

/** `count` sessions of `size` bytes each way through aegis, each checked whole. */
async function traffic(count: number, size: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const sent = new Uint8Array(size).fill(0x61 + (i % 26));
    const { received, error } = await exchangeFrom("127.0.0.1", aegis.port, sent);
    expect({ error, length: received.length }).toEqual({ error: null, length: size });
  }
}

/** A session that streams about 5 MB/s through aegis until stopped: rates of several digits on the page. */
async function flow(): Promise<() => void> {
  const chunk = new Uint8Array(50_000).fill(0x62);
  const socket = await Bun.connect({ hostname: "127.0.0.1", port: aegis.port, socket: { data() {}, error() {} } });
  const timer = setInterval(() => socket.write(chunk), 10);
  return () => { clearInterval(timer); socket.end(); };
}

beforeAll(async () => {
  if (!haveChromium()) throw new Error(`${CHROMIUM_PATH} is missing: run \`bash scripts/setup.sh --test\` as root (it installs Debian's chromium)`);
  backends.push(startEcho(), startEcho(), startEcho());
  const servers = backends.map((b, i) => `{ address = "${b.address}", name = "server-with-a-longer-name-${i}"${i === 0 ? ", max_connections = 5000" : ""} }`);
  aegis = await startAegis(
    simpleConfig([], {
      logLevel: "info",
      global: "access_log = false",
      adminToken: TOKEN,
      upstream: `queue = 50\nhealth = { interval = "300ms", timeout = "300ms", rise = 1, fall = 2 }`,
      serverTables: servers,
    }),
    { command: [ensureBinary()], cwd: tempDir() },
  );
  origin = `http://127.0.0.1:${aegis.metricsPort}`;
  configPath = (await aegis.waitForLog((l) => l.msg === "ready")).config as string;
  browser = await launchChromium();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  await aegis?.stop("SIGKILL");
  for (const b of backends) b.stop();
});

/** A fresh page at `width`, once it has drawn live data twice (rates need two polls). */
async function open(width: number): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(origin + "/");
  await page.waitForFunction(() => !((globalThis as Dom).document.getElementById("t-rate")?.textContent ?? "–").startsWith("–"), undefined, { timeout: 15_000 });
  expect(errors).toEqual([]);
  return page;
}

describe("status page layout and details", () => {
  test("a page opened late draws the minutes before it, from the main thread's history", async () => {
    await traffic(20, 2_000);
    // The main thread samples once a second: wait until it holds a few seconds with traffic in them.
    const seen = await waitFor(async () => {
      const h = (await metricsJson("?history")).history!;
      const rates = h.listeners.main!.connections_per_second;
      return h.times.length >= 6 && rates.some((r) => (r ?? 0) > 0) ? h : null;
    }, { timeoutMs: 20_000, what: "history with traffic in it" });
    const loadedAt = Date.now();
    const page = await open(1400);
    const from = await page.evaluate(() => (globalThis as Dom).document.querySelector("[data-listener=main] .chart svg")?.getAttribute("data-from"));
    // The server's second sample holds its first rate: the page's chart starts there, seconds before it opened.
    expect(Date.parse(from!)).toBeLessThanOrEqual(seen.times[1]!);
    expect(Date.parse(from!)).toBeLessThan(loadedAt - 3000);
    const stacked = await page.evaluate(() => (globalThis as Dom).document.querySelector("[data-upstream=app] .chart svg")?.getAttribute("data-from"));
    expect(Date.parse(stacked!)).toBeLessThan(loadedAt - 3000);
    await page.close();
  }, 60_000);

  for (const width of [1400, 760, 390]) {
    test(`nothing overflows its box or the viewport at ${width} px`, async () => {
      await traffic(3, 300_000); // totals of several digits: "1.2 MB", "p99 0.35 ms"
      const stop = await flow();
      const page = await open(width);
      // The widest a rate gets here: megabytes a second, as the tiles showed clipped at 1400 px.
      await page.waitForFunction(() => / MB\/s$/.test((globalThis as Dom).document.getElementById("t-in")?.textContent ?? ""), undefined, { timeout: 15_000 });
      const overflow = await page.evaluate(() => {
        const { document } = globalThis as Dom;
        const root = document.documentElement;
        const cells = [...document.querySelectorAll("td.n, .num, .stat .v, .tile .value, .split span, .chart .now")] as Dom[];
        return {
          document: root.scrollWidth > root.clientWidth ? `${root.scrollWidth} > ${root.clientWidth}` : null,
          cells: cells.filter((c) => c.clientWidth > 0 && c.scrollWidth > c.clientWidth).map((c) => `${c.className}: "${c.textContent}" ${c.scrollWidth} > ${c.clientWidth}`),
          // Every numeric cell is inside the viewport, not cut at its right edge.
          outside: cells.filter((c) => c.getBoundingClientRect().right > root.clientWidth + 0.5).map((c) => `${c.className}: "${c.textContent}"`),
          checked: cells.length,
        };
      });
      expect(overflow.checked).toBeGreaterThan(20);
      expect({ document: overflow.document, cells: overflow.cells, outside: overflow.outside }).toEqual({ document: null, cells: [], outside: [] });

      // The empty list of changes is one line of text, not a word per line.
      const lines = await page.evaluate(() => {
        const { document } = globalThis as Dom;
        const li = document.querySelector("#events li.none");
        const range = document.createRange();
        range.selectNodeContents(li);
        return { text: li.textContent, lines: new Set([...range.getClientRects()].map((r: Dom) => Math.round(r.top))).size };
      });
      expect(lines).toEqual({ text: "No state changes since start.", lines: 1 });
      stop();
      await page.close();
    }, 60_000);
  }

  test("the stacked chart names each server in its colour, and the charts have a time axis", async () => {
    const page = await open(1400);
    const chart = await page.evaluate(() => {
      const { document, getComputedStyle } = globalThis as Dom;
      const up = document.querySelector("[data-upstream=app]");
      const legend = [...up.querySelectorAll(".legend [data-legend]")].map((e: Dom) => [e.textContent, getComputedStyle(e.querySelector("i")).backgroundColor]);
      const rows = [...up.querySelectorAll("tr[data-server]")].map((tr: Dom) => [tr.getAttribute("data-server"), getComputedStyle(tr.querySelector(".bar span")).backgroundColor]);
      const axes = [...document.querySelectorAll(".axis")].map((a: Dom) => [...a.querySelectorAll("span")].map((s: Dom) => s.textContent));
      return { legend, rows, axes };
    });
    expect(chart.legend).toEqual(chart.rows);
    expect(chart.legend.map(([name]) => name)).toEqual(backends.map((_, i) => `server-with-a-longer-name-${i}`));
    expect(new Set(chart.legend.map(([, colour]) => colour)).size).toBe(3);
    expect(chart.axes.length).toBe(3); // the listener's two charts and the upstream's
    // The shortest span that holds every point: two minutes this young, up to ten.
    for (const ticks of chart.axes) expect([["-2m", "-90s", "-1m", "-30s", "now"], ["-5m", "-4m", "-3m", "-2m", "-1m", "now"], ["-10m", "-8m", "-6m", "-4m", "-2m", "now"]]).toContainEqual(ticks);
    expect(new Set(chart.axes.map((t) => t.join())).size).toBe(1);
    await page.close();
  }, 30_000);

  test("each server shows its bytes, limit, time in state, connect latency and last check; the JSON adds up", async () => {
    await traffic(2, 50_000);
    // Every session has ended: the servers' bytes add up to the listener's, exactly.
    const data = await waitFor(async () => {
      const d = await metricsJson();
      const servers = d.upstreams[0]!.servers;
      const sum = (f: "bytes_received_total" | "bytes_sent_total") => servers.reduce((n, s) => n + s[f], 0);
      return sum("bytes_received_total") === d.listeners[0]!.bytes_received_total && sum("bytes_sent_total") === d.listeners[0]!.bytes_sent_total ? d : null;
    }, { what: "servers' bytes equal to the listener's" });
    expect(data.listeners[0]!.bytes_received_total).toBeGreaterThan(100_000);
    const prom = await aegis.metrics();
    expect(prom.get("aegis_upstream_bytes_received_total")).toBe(data.listeners[0]!.bytes_received_total);

    const page = await open(1400);
    const name = "server-with-a-longer-name-0";
    const server = data.upstreams[0]!.servers.find((s) => s.name === name)!;
    expect(server.connect_seconds.p50).toBeGreaterThan(0);
    await page.waitForFunction((n) => (globalThis as Dom).document.querySelector(`tr[data-server="${n}"] td.health small`)?.textContent?.startsWith("check passed"), name, { timeout: 15_000 });
    const cells = await page.evaluate((n) => {
      const row = (globalThis as Dom).document.querySelector(`tr[data-server="${n}"]`);
      const text = (c: string) => row.querySelector("td." + c).textContent;
      return { state: text("state"), active: text("active"), bytes: text("bytes"), latency: text("latency"), health: text("health") };
    }, name);
    expect(cells.state).toMatch(/^upfor \d+(s|m \d+s)$/);
    expect(cells.active).toMatch(/^0 \/ 5,000[\d,]+ total$/);
    expect(cells.bytes).toMatch(/^in [\d.]+ (B|KB|MB)out [\d.]+ (B|KB|MB)$/);
    expect(cells.latency).toMatch(/^p50 [\d.]+ msp99 [\d.]+ ms$/);
    expect(cells.health).toMatch(/^healthycheck passed in [\d.]+ ms · /);
    expect(await page.textContent("[data-upstream=app] .row-head")).toContain("queue 0 of 50");
    await page.close();
  }, 60_000);

  test("a reload of a broken file shows a banner with its error and time, gone once a reload is taken", async () => {
    const good = readFileSync(configPath, "utf8");
    const page = await open(760);
    expect(await page.isHidden("#reload-banner")).toBe(true);

    writeFileSync(configPath, good.replace("[[upstream]]", '[[upstream]]\nbalance = "fastest"'));
    aegis.proc.kill("SIGHUP");
    const failed = await aegis.waitForLog((l) => l.msg === "reload failed, the running configuration stays", 15_000);
    await page.waitForSelector("#reload-banner", { state: "visible", timeout: 15_000 });
    const banner = await page.evaluate(() => {
      const { document } = globalThis as Dom;
      return { head: document.getElementById("reload-head").textContent, error: document.getElementById("reload-error").textContent, role: document.getElementById("reload-banner").getAttribute("role") };
    });
    expect(banner.role).toBe("alert");
    expect(banner.error).toBe(failed.error as string);
    expect(banner.error).toContain("fastest");
    expect(banner.head).toMatch(/^Reload failed (just now|\d+ s ago) \(.+\): the running configuration stays/);
    const json = await metricsJson();
    expect(json.reloads.failed).toBe(1);
    expect(json.reloads.last_failure!.error).toBe(failed.error as string);
    // Nothing overflows with the banner up, even at this width and with a long error.
    expect(await page.evaluate(() => { const r = (globalThis as Dom).document.documentElement; return r.scrollWidth <= r.clientWidth; })).toBe(true);

    writeFileSync(configPath, good);
    const answer = await fetch(`${origin}/api/reload`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } });
    expect(answer.status).toBe(200);
    await page.waitForSelector("#reload-banner", { state: "hidden", timeout: 15_000 });
    expect((await metricsJson()).reloads).toMatchObject({ ok: 1, failed: 1, last_failure: null });
    await page.close();
  }, 60_000);
});
