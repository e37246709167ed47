// /metrics.json against /metrics on the same process, /readyz both ways, and the status page's plumbing.
import { describe, expect, test } from "bun:test";
import { eventually, parseMetrics, startAegis, simpleConfig, type Aegis } from "./helpers/aegis.ts";
import { closedPort, startEcho } from "./helpers/backends.ts";
import { connect } from "./helpers/client.ts";
import { stopAfterEach } from "./helpers/teardown.ts";
import { readiness } from "../src/admin/readiness.ts";
import type { StatusSource } from "../src/admin/source.ts";
import { VERSION } from "../src/version.ts";

let aegis: Aegis | null = null;
const { backends, clients } = stopAfterEach(() => aegis);

// A refused connect fails at once; the timeout as long as the interval allows and fall 2 keep a healthy
// server up when a busy machine answers one check late.
const HEALTH = `health = { interval = "200ms", timeout = "200ms", rise = 1, fall = 2 }`;
const get = (a: Aegis, path: string) => fetch(`http://127.0.0.1:${a.metricsPort}${path}`);

interface HistogramJson { buckets: [string, number][]; sum: number; count: number }
interface MetricsJson {
  process: { version: string; pid: number; uptime_seconds: number; workers: { configured: number; running: number } };
  listeners: { name: string; connections_total: number; connections_active: number; connections_queued: number; bytes_received_total: number; bytes_sent_total: number; rejected_total: Record<string, number>; session_duration_seconds: HistogramJson }[];
  upstreams: { name: string; servers: { name: string; state: string; connections_total: number; connections_active: number; connect_errors_total: number; connect_duration_seconds: HistogramJson; session_duration_seconds: HistogramJson; health: { check_duration_seconds: HistogramJson | null } }[] }[];
  per_ip: { entries: number; capacity: number } | null;
  changes: { what: string; server: string; from: string; to: string; reason: string }[];
}

describe("/metrics.json", () => {
  test("the same numbers as /metrics, plus process info and recent changes", async () => {
    const echo = startEcho();
    backends.push(echo);
    const dead = `127.0.0.1:${closedPort()}`;
    aegis = await startAegis(simpleConfig([echo.address, dead], { workers: 2, logLevel: "info", global: "access_log = false", upstream: HEALTH }));
    await aegis.waitForLog((l) => l.msg === "server state" && l.server === dead && l.to === "down");
    for (let i = 0; i < 5; i++) {
      const c = await connect(aegis.port);
      c.write("hello aegis\n");
      await c.waitFor((t) => t === "hello aegis\n");
      c.socket.end();
      await c.closed;
    }
    const open = await connect(aegis.port);
    clients.push(open);
    open.write("x");
    await open.waitFor((t) => t === "x");

    // Counters only settle once the sessions above have been closed on aegis's side too.
    let text = "";
    let json!: MetricsJson;
    await eventually(async () => {
      text = await (await get(aegis!, "/metrics")).text();
      json = await (await get(aegis!, "/metrics.json")).json() as MetricsJson;
      const m = parseMetrics(text);
      return m.get(`aegis_connections_active{listener="main"}`) === 1 && json.listeners[0]!.connections_active === 1
        && m.get(`aegis_bytes_sent_total{listener="main"}`) === json.listeners[0]!.bytes_sent_total;
    }, 10_000, "counters settle");
    const m = parseMetrics(text);
    const l = json.listeners[0]!;
    expect(l.name).toBe("main");
    expect(l.connections_total).toBe(m.get(`aegis_connections_total{listener="main"}`)!);
    expect(l.connections_total).toBe(6);
    expect(l.bytes_received_total).toBe(m.get(`aegis_bytes_received_total{listener="main"}`)!);
    expect(l.bytes_received_total).toBe(5 * 12 + 1);
    expect(l.bytes_sent_total).toBe(m.get(`aegis_bytes_sent_total{listener="main"}`)!);
    expect(l.rejected_total.no_server).toBe(m.get(`aegis_connections_rejected_total{listener="main",reason="no_server"}`)!);
    const [good, bad] = json.upstreams[0]!.servers;
    expect(good!.connections_total).toBe(m.get(`aegis_upstream_connections_total{upstream="app",server="${echo.address}"}`)!);
    expect(good!.connections_total).toBe(6);
    expect(good!.connections_active).toBe(1);
    expect(good!.state).toBe("up");
    expect(bad!.state).toBe("down");
    expect(m.get(`aegis_server_state{upstream="app",server="${dead}",state="down"}`)).toBe(1);
    expect(bad!.connect_errors_total).toBe(m.get(`aegis_upstream_connect_errors_total{upstream="app",server="${dead}"}`)!);
    expect(l.connections_queued).toBe(m.get(`aegis_connections_queued{listener="main"}`)!);
    // Histograms: every bucket, the sum and the count as /metrics has them.
    const sameHistogram = (h: HistogramJson, name: string, labels: string) => {
      for (const [le, n] of h.buckets) expect(n).toBe(m.get(`${name}_bucket{${labels},le="${le}"}`)!);
      // In numeric order, +Inf last (an object keyed by le would put "1" before "0.005").
      const bounds = h.buckets.map(([le]) => (le === "+Inf" ? Infinity : Number(le)));
      expect(bounds).toEqual([...bounds].sort((a, b) => a - b));
      expect(bounds.at(-1)).toBe(Infinity);
      expect(bounds.some((b) => Number.isInteger(b)) && bounds.some((b) => !Number.isInteger(b))).toBe(true);
      expect(h.count).toBe(m.get(`${name}_count{${labels}}`)!);
      expect(h.sum).toBeCloseTo(m.get(`${name}_sum{${labels}}`)!, 9);
    };
    const goodLabels = `upstream="app",server="${echo.address}"`;
    sameHistogram(l.session_duration_seconds, "aegis_session_duration_seconds", 'listener="main"');
    sameHistogram(good!.connect_duration_seconds, "aegis_upstream_connect_duration_seconds", goodLabels);
    sameHistogram(good!.session_duration_seconds, "aegis_upstream_session_duration_seconds", goodLabels);
    sameHistogram(good!.health.check_duration_seconds!, "aegis_health_check_duration_seconds", goodLabels);
    expect(good!.connect_duration_seconds.count).toBe(6);
    expect(good!.session_duration_seconds.count).toBe(5);
    expect(good!.health.check_duration_seconds!.count).toBeGreaterThan(0);
    expect(json.per_ip).toBeNull();

    expect(json.process.version).toBe(VERSION);
    expect(json.process.pid).toBe(aegis.proc.pid);
    expect(json.process.workers).toEqual({ configured: 2, running: 2 });
    expect(json.process.uptime_seconds).toBeGreaterThan(0);
    expect(json.changes[0]).toMatchObject({ what: "state", server: dead, from: "up", to: "down" });
    expect(json.changes[0]!.reason).toContain("check(s) in a row failed");
  });
});

describe("/readyz", () => {
  test("200 with every Worker up and a server up in each upstream; 503 with the reason when an upstream has none", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await startAegis(simpleConfig([echo.address], { workers: 2, logLevel: "info", upstream: HEALTH }));
    const ok = await get(aegis, "/readyz");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ ready: true, reasons: [], workers: { running: 2, configured: 2 }, upstreams: [{ name: "app", servers_up: 1, servers: 1 }] });

    echo.stop();
    await aegis.waitForLog((l) => l.msg === "server state" && l.to === "down");
    const down = await get(aegis, "/readyz");
    expect(down.status).toBe(503);
    expect(((await down.json()) as { reasons: string[] }).reasons).toEqual(["upstream app: no server up (1 configured)"]);
    // /healthz says only that the process is alive: still 200 while not ready.
    const alive = await get(aegis, "/healthz");
    expect(alive.status).toBe(200);
    expect((await alive.text()).trim()).toBe("ok");
  });

  test("503 while fewer Workers run than configured", () => {
    const source = {
      config: { global: { workers: 4 }, upstreams: [{ name: "app", servers: [{}] }] },
      health: { snapshot: () => ["up"] },
      workersRunning: () => 3,
    } as unknown as StatusSource;
    expect(readiness(source)).toMatchObject({ ready: false, reasons: ["3 of 4 Workers running"] });
  });
});

describe("the metrics listener", () => {
  test("/ is the status page, self-contained and locked to its own origin", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await startAegis(simpleConfig([echo.address], { workers: 1 }));
    const page = await get(aegis, "/");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
    const html = await page.text();
    expect(html).toContain("<title>aegis status</title>");
    // Nothing fetched from elsewhere: no absolute URL in a src or href, no @import.
    expect(html).not.toMatch(/(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toContain("@import");
    const missing = await get(aegis, "/nope");
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: string }).error).toContain("/metrics.json");
  });
});
