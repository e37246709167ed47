// The operations kit: the Grafana dashboard and the alert rules use only metrics a live aegis
// exports, the rules pass promtool (check and unit tests), and every example passes aegis check.
import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { REPO, parseMetrics, startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { ensureBinary, run } from "./helpers/build.ts";
import { makePki } from "./helpers/certs.ts";
import { waitFor } from "./helpers/wait.ts";
import pkg from "../package.json" with { type: "json" };

const OPS = join(REPO, "ops");
const EXAMPLES = join(REPO, "examples");

// PromQL words that look like metric names where they stand in an expression.
const PROMQL = new Set(["sum", "min", "max", "avg", "count", "by", "without", "on", "ignoring", "group_left", "group_right",
  "and", "or", "unless", "rate", "increase", "changes", "histogram_quantile", "time", "le", "bool", "offset"]);

/** Metric names in a PromQL expression: identifiers outside {...} and [...] that are not functions, keywords or labels. */
export function metricNames(expr: string): string[] {
  const bare = expr.replace(/\{[^}]*\}/g, " ").replace(/\[[^\]]*\]/g, " ").replace(/"[^"]*"/g, " ")
    .replace(/\b(by|without|on|ignoring)\s*\([^)]*\)/g, " ");
  return [...bare.matchAll(/\b[a-zA-Z_:][a-zA-Z0-9_:]*\b/g)].map((m) => m[0]).filter((w) => !PROMQL.has(w) && !/^\d/.test(w));
}

function dashboardExprs(): string[] {
  const dash = JSON.parse(readFileSync(join(OPS, "grafana/aegis.json"), "utf8"));
  const exprs: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        if ((k === "expr" || k === "definition") && typeof x === "string") exprs.push(x.replace(/^label_values\((.*), *\w+\)$/, "$1"));
        else walk(x);
      }
    }
  };
  walk(dash);
  return exprs;
}

function ruleExprs(): string[] {
  return [...readFileSync(join(OPS, "prometheus/aegis.rules.yml"), "utf8").matchAll(/^\s+expr: (.+)$/gm)].map((m) => m[1]!);
}

let aegis: Aegis | null = null;
let echo: Backend | null = null;
afterAll(async () => {
  await aegis?.stop();
  echo?.stop();
});

describe("the dashboard and the rules on a live /metrics", () => {
  test("every metric name they use is exported, after traffic, a health check and a reload", async () => {
    const exprs = [...dashboardExprs(), ...ruleExprs()];
    const names = new Set(exprs.flatMap(metricNames));
    expect(names.size).toBeGreaterThan(20);
    // Nothing escapes the extraction: every aegis_ or process_ word of the expressions is among the names.
    for (const word of exprs.flatMap((e) => e.match(/\b(?:aegis|process)_\w+/g) ?? [])) expect(names).toContain(word);
    // The extraction itself: a known expression gives exactly its metric names.
    expect(metricNames(`histogram_quantile(0.99, sum by (upstream, le) (rate(aegis_upstream_connect_duration_seconds_bucket{job=~"$job"}[5m]))) > 0.5`))
      .toEqual(["aegis_upstream_connect_duration_seconds_bucket"]);

    echo = startEcho();
    const pki = makePki();
    const dir = tempDir();
    aegis = await startAegis(`
[global]
workers = 2
shutdown_grace = "2s"
[metrics]
listen = "127.0.0.1:0"
[[listener]]
name = "main"
bind = "127.0.0.1:0"
upstream = "app"
[[listener]]
name = "tls"
bind = "127.0.0.1:0"
upstream = "app"
tls = { cert = "${pki.localhost.certPath}", key = "${pki.localhost.keyPath}" }
[[upstream]]
name = "app"
servers = ["127.0.0.1:${echo.port}"]
health = { interval = "300ms", timeout = "300ms", rise = 1, fall = 1 }
`, { command: [ensureBinary()], cwd: dir });
    const port = aegis.metricsPort!;
    // Traffic: one session through, so the connect and session histograms have observations.
    const reply = await new Promise<string>((resolve, reject) => {
      let got = "";
      Bun.connect({ hostname: "127.0.0.1", port: aegis!.port, socket: {
        open(s) { s.write("ping\n"); },
        data(s, d) { got += d.toString(); if (got.includes("ping")) s.end(); },
        close() { resolve(got); },
        error(_s, e) { reject(e); },
      } }).catch(reject);
    });
    expect(reply).toBe("ping\n");
    await waitFor(async () => (await aegis!.metrics()).get(`aegis_session_duration_seconds_count{listener="main"}`) === 1 || false, { what: "the session counted" });
    await waitFor(async () => ((await aegis!.metrics()).get("aegis_health_check_duration_seconds_count") ?? 0) > 0 || false, { what: "a health check" });
    // A reload, so aegis_reloads_total{result="success"} moves.
    aegis.proc.kill("SIGHUP");
    await aegis.waitForLog((l) => l.msg === "reloaded", 15_000);

    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const exported = new Set(text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split(/[{ ]/)[0]!));
    const missing = [...names].filter((n) => !exported.has(n));
    expect(missing).toEqual([]);

    const m = parseMetrics(text);
    expect(m.get(`aegis_reloads_total{result="success"}`)).toBe(1);
    expect(m.get(`aegis_reloads_total{result="failure"}`)).toBe(0);
    expect(m.get(`aegis_build_info{version="${pkg.version}",commit="${text.match(/commit="([^"]*)"/)![1]}",bun="${Bun.version}"}`)).toBe(1);
    const now = Date.now() / 1000;
    expect(m.get("aegis_config_last_reload_success_timestamp_seconds")!).toBeLessThanOrEqual(now);
    expect(m.get("aegis_config_last_reload_success_timestamp_seconds")!).toBeGreaterThan(m.get("process_start_time_seconds")!);
    expect(m.get("process_start_time_seconds")!).toBeLessThanOrEqual(now);
    expect(m.get("process_start_time_seconds")!).toBeGreaterThan(now - 3600);
    expect(m.get("process_resident_memory_bytes")!).toBeGreaterThan(1 << 20);
    expect(m.get("process_virtual_memory_bytes")!).toBeGreaterThan(m.get("process_resident_memory_bytes")!);
    expect(m.get("process_cpu_seconds_total")!).toBeGreaterThan(0);
    expect(m.get("process_open_fds")!).toBeGreaterThan(3);
    const limits = readFileSync(`/proc/${aegis.proc.pid}/limits`, "utf8").match(/^Max open files\s+(\d+)/m)![1];
    expect(m.get("process_max_fds")).toBe(Number(limits));
    expect(m.get(`aegis_tls_certificate_expiry_timestamp_seconds{listener="tls",subject="localhost"}`)).toBeGreaterThan(now);

    const promtool = Bun.spawn(["promtool", "check", "metrics"], { stdin: Buffer.from(text), stdout: "pipe", stderr: "pipe" });
    const [out, err, code] = await Promise.all([new Response(promtool.stdout).text(), new Response(promtool.stderr).text(), promtool.exited]);
    expect({ code, out: out + err }).toEqual({ code: 0, out: "" });
  });
});

describe("ops/prometheus", () => {
  test("the rules pass promtool check rules, their unit tests pass, the scrape config is valid", async () => {
    const check = await run(["promtool", "check", "rules", "aegis.rules.yml"], { cwd: join(OPS, "prometheus") });
    expect({ code: check.code, out: check.stdout + check.stderr }).toMatchObject({ code: 0 });
    expect(check.stdout).toContain("SUCCESS: 7 rules found");
    const unit = await run(["promtool", "test", "rules", "aegis.rules.test.yml"], { cwd: join(OPS, "prometheus") });
    expect({ code: unit.code, out: unit.stdout + unit.stderr }).toMatchObject({ code: 0 });
    // Every alert of the rules file is exercised by the unit tests.
    const alerts = [...readFileSync(join(OPS, "prometheus/aegis.rules.yml"), "utf8").matchAll(/- alert: (\w+)/g)].map((m) => m[1]!);
    const tests = readFileSync(join(OPS, "prometheus/aegis.rules.test.yml"), "utf8");
    for (const alert of alerts) expect(tests).toContain(`alertname: ${alert}`);
    const config = await run(["promtool", "check", "config", "prometheus.yml"], { cwd: join(OPS, "prometheus") });
    expect({ code: config.code, out: config.stdout + config.stderr }).toMatchObject({ code: 0 });
  });
});

describe("examples/", () => {
  test("each config passes aegis check (compiled binary) without a warning, the TLS hop with certificates from its script", async () => {
    const dir = tempDir();
    cpSync(EXAMPLES, dir, { recursive: true });
    const certs = await run(["sh", join(dir, "make-hop-certs.sh")]);
    expect({ code: certs.code, err: certs.stderr }).toEqual({ code: 0, err: "" });
    const files = readdirSync(dir).filter((f) => f.endsWith(".toml")).sort();
    expect(files).toEqual(["mysql.toml", "postgres.toml", "proxy-protocol.toml", "redis-auth-primary.toml", "tls-hop-a.toml", "tls-hop-b.toml"]);
    const readme = readFileSync(join(EXAMPLES, "README.md"), "utf8");
    for (const file of files) {
      expect(readme).toContain(`\`${file}\``);
      const r = await run([ensureBinary(), "check", "--config", join(dir, file)], { cwd: dir });
      expect({ file, code: r.code, err: r.stderr }).toEqual({ file, code: 0, err: "" });
      expect(r.stdout).toContain("is valid");
      expect(r.stdout).not.toContain("warning:");
    }
  });
});

describe("examples/tls-hop", () => {
  test("site A to site B over mutual TLS carries a session intact (ports moved to free ones)", async () => {
    const dir = tempDir();
    cpSync(EXAMPLES, dir, { recursive: true });
    expect((await run(["sh", join(dir, "make-hop-certs.sh")])).code).toBe(0);
    const local = startEcho();
    const nodes: Aegis[] = [];
    try {
      const read = (f: string) => readFileSync(join(dir, f), "utf8").replaceAll('"certs/', `"${dir}/certs/`);
      const b = read("tls-hop-b.toml").replace('"0.0.0.0:16379"', '"127.0.0.1:0"').replace('"127.0.0.1:8083"', '"127.0.0.1:0"')
        .replace('"127.0.0.1:6380"', `"127.0.0.1:${local.port}"`).replace(/^health = .*$/m, "");
      nodes.push(await startAegis(b, { command: [ensureBinary()], cwd: dir }));
      const a = read("tls-hop-a.toml").replace('"127.0.0.1:6379"', '"127.0.0.1:0"').replace('"127.0.0.1:8082"', '"127.0.0.1:0"')
        .replace('"127.0.0.1:16379"', `"127.0.0.1:${nodes[0]!.port}"`);
      nodes.push(await startAegis(a, { command: [ensureBinary()], cwd: dir }));
      const reply = await new Promise<string>((resolve, reject) => {
        let got = "";
        Bun.connect({ hostname: "127.0.0.1", port: nodes[1]!.port, socket: {
          open(s) { s.write("over the hop\n"); },
          data(s, d) { got += d.toString(); if (got.includes("\n")) s.end(); },
          close() { resolve(got); },
          error(_s, e) { reject(e); },
        } }).catch(reject);
      });
      expect(reply).toBe("over the hop\n");
      const mB = await nodes[0]!.metrics();
      expect(mB.get(`aegis_tls_handshakes_total{listener="mesh"}`)!).toBeGreaterThanOrEqual(1);
      expect(mB.get(`aegis_tls_handshake_failures_total{listener="mesh"}`)).toBe(0);
    } finally {
      for (const n of nodes.reverse()) await n.stop();
      local.stop();
    }
  });
});
