// The status page in a real headless Chromium: it loads with nothing from elsewhere, shows every
// configured server, a server killed during the test turns red within a few seconds, and Top clients ranks the heaviest first.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Browser, Page } from "playwright-core";
import { startAegis, simpleConfig, type Aegis } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { connect } from "./helpers/client.ts";
import { CHROMIUM_PATH, haveChromium, launchChromium } from "./helpers/browser.ts";
import { makePki } from "./helpers/certs.ts";
import { tlsClient } from "./helpers/tls.ts";
import { exchangeFrom } from "./helpers/haproxy.ts";

const RED = "rgb(239, 68, 68)";
const GREEN = "rgb(34, 197, 94)";
const AMBER = "rgb(245, 158, 11)";
const TOKEN = "status-page-token-0123456789abcdef";

let browser: Browser;
let aegis: Aegis;
const backends: Backend[] = [];

beforeAll(async () => {
  if (!haveChromium()) throw new Error(`${CHROMIUM_PATH} is missing: run \`bash scripts/setup.sh --test\` as root (it installs Debian's chromium)`);
  backends.push(startEcho(), startEcho(), startEcho());
  aegis = await startAegis(simpleConfig(backends.map((b) => b.address), {
    workers: 2, logLevel: "info", global: "access_log = false",
    // A refused connect fails a check at once; the long timeout and fall 2 only keep a healthy server
    // from being marked down because a busy machine answered one check late.
    upstream: `health = { interval = "300ms", timeout = "300ms", rise = 1, fall = 2 }`,
  }) + `\n[admin]\ntoken = "${TOKEN}"\n`);
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await aegis?.stop("SIGKILL");
  for (const b of backends) b.stop();
});

/** The DOM as the page functions below use it: the project's tsconfig has no DOM types. */
interface El {
  textContent: string | null;
  getAttribute(name: string): string | null;
  querySelector(selector: string): El | null;
}
interface Dom {
  document: { querySelector(selector: string): El | null; querySelectorAll(selector: string): { length: number }; getElementById(id: string): El | null };
  getComputedStyle(el: El): { backgroundColor: string };
}

/** The state a server's row shows, and the colour of its dot. */
const rowOf = (page: Page, server: string) => page.evaluate((name) => {
  const { document, getComputedStyle } = globalThis as unknown as Dom;
  const row = document.querySelector(`tr[data-server="${name}"]`);
  return row ? { state: row.getAttribute("data-state") ?? "", color: getComputedStyle(row.querySelector(".dot")!).backgroundColor, pill: row.querySelector(".pill")!.textContent } : null;
}, server);
/** Resolves once the server's row shows `state`. */
const waitForState = (page: Page, server: string, state: string) => page.waitForFunction(([name, want]) => {
  const { document } = globalThis as unknown as Dom;
  return document.querySelector(`tr[data-server="${name}"]`)?.getAttribute("data-state") === want;
}, [server, state] as const, { timeout: 15_000 });
const textOf = (page: Page, id: string) => page.evaluate((i) => (globalThis as unknown as Dom).document.getElementById(i)?.textContent ?? null, id);

describe("status page", () => {
  test("shows every server live; a killed server turns red within a few seconds; drained is amber", async () => {
    const page = await browser.newPage();
    const origin = `http://127.0.0.1:${aegis.metricsPort}`;
    const elsewhere: string[] = [];
    const errors: string[] = [];
    page.on("request", (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith("data:")) elsewhere.push(r.url()); });
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });

    await page.goto(origin + "/");
    expect(await page.title()).toBe("aegis status");
    await page.waitForFunction((n) => (globalThis as unknown as Dom).document.querySelectorAll("tr[data-server][data-state]").length === n, backends.length, { timeout: 15_000 });
    for (const b of backends) expect(await rowOf(page, b.address)).toEqual({ state: "up", color: GREEN, pill: "up" });
    expect(await page.textContent("[data-listener=main]")).toContain("127.0.0.1:0");
    expect(await textOf(page, "workers")).toBe("2 / 2");

    // Traffic shows up: one open session counts as active on the page within a couple of polls.
    const client = await connect(aegis.port);
    client.write("ping");
    await client.waitFor((t) => t === "ping");
    await page.waitForFunction(() => (globalThis as unknown as Dom).document.getElementById("t-active")?.textContent === "1", undefined, { timeout: 15_000 });

    const victim = backends[1]!;
    victim.stop();
    // "Within a few seconds" is waitForState's bound: 15 s, for a page and a browser on a busy machine
    // (checks every 300 ms, fall 2: about a second on a quiet one).
    await waitForState(page, victim.address, "down");
    expect(await rowOf(page, victim.address)).toEqual({ state: "down", color: RED, pill: "down" });
    expect(await page.textContent("#events")).toContain(`app / ${victim.address}`);
    expect(await textOf(page, "t-up")).toBe("2of 3");

    await fetch(`${origin}/api/upstreams/app/servers/2/state`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` }, body: `{"state":"draining"}` });
    await waitForState(page, backends[2]!.address, "draining");
    expect((await rowOf(page, backends[2]!.address))!.color).toBe(AMBER);

    client.socket.end();
    expect(elsewhere).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  }, 30_000);

  test("a TLS listener shows its handshakes per second and its failed handshakes", async () => {
    const pki = makePki();
    const tlsAegis = await startAegis(simpleConfig([backends[0]!.address], {
      workers: 1, logLevel: "info", global: "access_log = false",
      listener: `tls = { cert = ${JSON.stringify(pki.serverA.certPath)}, key = ${JSON.stringify(pki.serverA.keyPath)} }`,
    }));
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${tlsAegis.metricsPort}/`);
      await page.waitForSelector("[data-tls=handshakes]", { timeout: 15_000 });
      expect(await tlsClient(tlsAegis.port, { serverName: "a.test", ca: pki.ca.cert, send: "hi" })).toMatchObject({ ok: true, reply: "hi" });
      const plain = await connect(tlsAegis.port);
      plain.write("not a ClientHello\r\n"); // a failed handshake
      await page.waitForFunction(() => (globalThis as unknown as Dom).document.querySelector("[data-tls=failures]")?.textContent === "1", undefined, { timeout: 15_000 });
      expect(await page.evaluate(() => (globalThis as unknown as Dom).document.querySelector("[data-listener=main]")?.textContent ?? "")).toContain("TLS hs/s");
      plain.socket.end();
      await page.close();
    } finally {
      await tlsAegis.stop("SIGKILL");
    }
  }, 30_000);

  test("Top clients lists the heaviest client first, with its bytes and sessions", async () => {
    // 250 kB and 50 kB each way through the echo servers: 500 kB and 100 kB as the page counts them.
    await Promise.all([["127.0.0.70", 250_000], ["127.0.0.71", 50_000]].map(async ([source, size]) => {
      const sent = new Uint8Array(size as number).fill(0x61);
      const { received, error } = await exchangeFrom(source as string, aegis.port, sent);
      expect({ source, error, length: received.length }).toEqual({ source, error: null, length: sent.length });
    }));
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${aegis.metricsPort}/`);
    // The Workers post every 2 s and the page polls every second: bounded by the wait's timeout.
    await page.waitForFunction(() => {
      const rows = (globalThis as unknown as Dom).document.querySelector("#clients [data-listener=main] tbody");
      return rows?.querySelector("tr")?.getAttribute("data-client") === "127.0.0.70" && rows.querySelector("tr + tr")?.getAttribute("data-client") === "127.0.0.71";
    }, undefined, { timeout: 15_000 });
    const cells = (client: string) => page.evaluate((c) => {
      const { document } = globalThis as unknown as { document: { querySelectorAll(s: string): { textContent: string | null }[] } };
      return [...document.querySelectorAll(`#clients tr[data-client="${c}"] td`)].map((td) => td.textContent);
    }, client);
    expect(await cells("127.0.0.70")).toEqual(["127.0.0.70", "500 KB", "1", "0"]);
    expect(await cells("127.0.0.71")).toEqual(["127.0.0.71", "100 KB", "1", "0"]);
    await page.close();
  }, 30_000);

  test("says so when aegis goes away", async () => {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${aegis.metricsPort}/`);
    await page.waitForFunction(() => (globalThis as unknown as Dom).document.getElementById("live-text")?.textContent === "live", undefined, { timeout: 15_000 });
    await aegis.stop("SIGKILL");
    await page.waitForFunction(() => (globalThis as unknown as Dom).document.getElementById("live-text")?.textContent?.startsWith("disconnected"), undefined, { timeout: 15_000 });
    await page.close();
  }, 20_000);
});
