// Who may reach the metrics listener ([metrics] allow, the beyond-loopback warning) and what a busy
// metrics port says, on the compiled binary.
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { ensureBinary, run } from "./helpers/build.ts";

let aegis: Aegis | null = null;
let echo: Backend | null = null;
afterEach(async () => {
  await aegis?.stop();
  aegis = null;
  echo?.stop();
  echo = null;
});

const config = (metrics: string, listener = "127.0.0.1:0") => `
[global]
workers = 1
[metrics]
${metrics}
[[listener]]
name = "main"
bind = "${listener}"
upstream = "app"
[[upstream]]
name = "app"
servers = ["127.0.0.1:${echo!.port}"]
`;

async function curlFrom(local: string, url: string): Promise<number> {
  const r = await run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--interface", local, url]);
  expect(r.code).toBe(0);
  return Number(r.stdout);
}

describe("[metrics] allow", () => {
  test("a client from 127.0.0.2 gets 403 on every path, 127.0.0.1 (allowed) gets answers", async () => {
    echo = startEcho();
    aegis = await startAegis(config(`listen = "127.0.0.1:0"\nallow = ["127.0.0.1/32", "::1"]`), { command: [ensureBinary()], cwd: tempDir() });
    const base = `http://127.0.0.1:${aegis.metricsPort}`;
    for (const path of ["/metrics", "/metrics.json", "/", "/api/servers", "/healthz"]) {
      expect({ path, code: await curlFrom("127.0.0.2", base + path) }).toEqual({ path, code: 403 });
    }
    expect(await curlFrom("127.0.0.1", `${base}/metrics`)).toBe(200);
    expect(await curlFrom("127.0.0.1", `${base}/metrics.json`)).toBe(200);
    const refused = await run(["curl", "-s", "--interface", "127.0.0.2", `${base}/metrics`]);
    expect(refused.stdout).toBe("forbidden: 127.0.0.2 is not in [metrics] allow\n");
  });

  test("a reload that changes allow holds from the next request on, and is logged as a change", async () => {
    echo = startEcho();
    aegis = await startAegis(config(`listen = "127.0.0.1:0"\nallow = ["127.0.0.1/32"]`), { command: [ensureBinary()], cwd: tempDir() });
    const url = `http://127.0.0.1:${aegis.metricsPort}/metrics`;
    expect(await curlFrom("127.0.0.1", url)).toBe(200);
    writeFileSync(String(aegis.logs.find((l) => l.msg === "ready")!.config), config(`listen = "127.0.0.1:0"\nallow = ["127.0.0.2/32"]`));
    const seen = aegis.logs.length;
    aegis.proc.kill("SIGHUP");
    const line = await aegis.waitForLog((l) => aegis!.logs.indexOf(l) >= seen && (l.msg === "reloaded" || l.msg === "reload failed, the running configuration stays"), 15_000);
    expect(line.msg).toBe("reloaded");
    expect(JSON.stringify(line)).toContain("metrics.allow");
    expect(JSON.stringify(line)).not.toContain("takes effect at restart");
    expect(await curlFrom("127.0.0.1", url)).toBe(403);
    expect(await curlFrom("127.0.0.2", url)).toBe(200);
  });

  test("a bad CIDR is refused by aegis check with its key path", async () => {
    echo = startEcho();
    const dir = tempDir();
    writeFileSync(join(dir, "a.toml"), config(`allow = ["10.0.0.0/33"]`));
    const r = await run([ensureBinary(), "check", "--config", join(dir, "a.toml")], { cwd: dir });
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("metrics.allow[0]");
  });
});

describe("metrics beyond loopback", () => {
  test("without allow: aegis check and the start both warn; with allow, neither does", async () => {
    echo = startEcho();
    const dir = tempDir();
    const open = join(dir, "open.toml");
    writeFileSync(open, config(`listen = "0.0.0.0:0"`));
    const checked = await run([ensureBinary(), "check", "--config", open], { cwd: dir });
    expect(checked.code).toBe(0);
    expect(checked.stdout).toContain(`warning: [metrics] listen = "0.0.0.0:0" is reachable beyond this machine and has no allow list`);
    aegis = await startAegis(config(`listen = "0.0.0.0:0"`), { command: [ensureBinary()], cwd: dir });
    const warned = aegis.logs.find((l) => l.msg === "config warning" && String(l.warning).includes("[metrics] listen"));
    expect(warned).toBeDefined();
    await aegis.stop();
    aegis = null;

    const guarded = join(dir, "guarded.toml");
    writeFileSync(guarded, config(`listen = "0.0.0.0:0"\nallow = ["10.0.0.0/8"]`));
    const quiet = await run([ensureBinary(), "check", "--config", guarded], { cwd: dir });
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).not.toContain("[metrics] listen");
  });
});

describe("a busy metrics port", () => {
  test("aegis run names the setting and the file", async () => {
    echo = startEcho();
    const holder = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const dir = tempDir();
      const file = join(dir, "busy.toml");
      writeFileSync(file, config(`listen = "127.0.0.1:${holder.port}"`));
      const r = await run([ensureBinary(), "run", "--config", file], { cwd: dir });
      expect(r.code).toBe(1);
      expect(r.stdout + r.stderr).toContain(`[metrics] listen = \\"127.0.0.1:${holder.port}\\" in ${file}: port in use (another aegis running?)`);
      expect(r.stdout + r.stderr).not.toContain("Failed to start server");
    } finally {
      holder.stop(true);
    }
  });

  test("aegis demo names its metrics address", async () => {
    // 8082 is the demo's: hold it, or find it held already (either way it is busy for the demo).
    let holder: { stop(force?: boolean): void } | null = null;
    try {
      holder = Bun.listen({ hostname: "127.0.0.1", port: 8082, socket: { data() {} } });
    } catch { /* already in use */ }
    try {
      const r = await run([ensureBinary(), "demo"], { cwd: tempDir() });
      expect(r.code).toBe(1);
      expect(r.stdout + r.stderr).toContain("demo metrics address 127.0.0.1:8082: port in use (another aegis running?)");
    } finally {
      holder?.stop(true);
    }
  });
});
