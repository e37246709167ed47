// Choosing and reaching servers: round robin spread, retries past dead servers, connect timeouts.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { eventually, startAegis, simpleConfig, type Aegis } from "./helpers/aegis.ts";
import { closedPort, startEcho, type Backend } from "./helpers/backends.ts";
import { connect } from "./helpers/client.ts";
import { stopAfterEach } from "./helpers/teardown.ts";

let aegis: Aegis | null = null;
const { backends, cleanups } = stopAfterEach(() => aegis);

/** Open a connection, round-trip one byte string, close it; returns the greeting's server name. */
async function greetingOf(port: number): Promise<string> {
  const client = await connect(port);
  const text = await client.waitFor((t) => t.includes("\n"));
  client.socket.end();
  return text.trim();
}

describe("upstream selection", () => {
  test("round robin spreads sessions evenly over three servers (one Worker: exact order)", async () => {
    const servers = [1, 2, 3].map((n) => startEcho({ greeting: `s${n}\n` }));
    backends.push(...servers);
    aegis = await startAegis(simpleConfig(servers.map((s) => s.address), { workers: 1 }));
    const seen: string[] = [];
    for (let i = 0; i < 9; i++) seen.push(await greetingOf(aegis.port));
    expect(seen).toEqual(["s1", "s2", "s3", "s1", "s2", "s3", "s1", "s2", "s3"]);
  });

  test("weights are honoured and spread smoothly (weight 3 never three in a row while others wait)", async () => {
    const [a, b, c] = ["a", "b", "c"].map((n) => startEcho({ greeting: `${n}\n` })) as [Backend, Backend, Backend];
    backends.push(a, b, c);
    const servers = `servers = [{ address = "${a.address}", weight = 3 }, "${b.address}", "${c.address}"]`;
    aegis = await startAegis(simpleConfig([], { workers: 1 }).replace("servers = []", servers));
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) seen.push(await greetingOf(aegis.port));
    expect(seen.join("")).toBe("abacaabaca"); // nginx's smooth weighted round robin order
  });

  test("with two Workers the spread is still even over many sessions", async () => {
    const servers = [1, 2, 3].map((n) => startEcho({ greeting: `s${n}\n` }));
    backends.push(...servers);
    aegis = await startAegis(simpleConfig(servers.map((s) => s.address), { workers: 2 }));
    for (let i = 0; i < 60; i++) await greetingOf(aegis.port);
    const counts = servers.map((s) => s.accepted);
    expect(counts.reduce((x, y) => x + y)).toBe(60);
    for (const c of counts) expect(c).toBeGreaterThanOrEqual(12);
  });

  test("a refused server is skipped by the retry, and the failure is counted", async () => {
    const echo = startEcho({ greeting: "alive\n" });
    backends.push(echo);
    const dead = `127.0.0.1:${closedPort()}`;
    aegis = await startAegis(simpleConfig([dead, echo.address], { workers: 1, upstream: "retries = 2" }));
    for (let i = 0; i < 4; i++) expect(await greetingOf(aegis.port)).toBe("alive");
    const m = await aegis.metrics();
    expect(m.get(`aegis_upstream_connect_errors_total{upstream="app",server="${dead}"}`)).toBe(2);
    expect(m.get(`aegis_connections_rejected_total{listener="main",reason="no_server"}`)).toBe(0);
  });

  test("all servers down: the client is closed promptly and it is counted", async () => {
    const dead = [closedPort(), closedPort()].map((p) => `127.0.0.1:${p}`);
    // A connect_timeout far beyond the bound below: "promptly" means a refusal is not waited out,
    // with seconds of margin for a busy machine.
    aegis = await startAegis(simpleConfig(dead, { workers: 1, global: "access_log = true", upstream: 'retries = 5\nconnect_timeout = "60s"' }));
    const started = performance.now();
    const client = await connect(aegis.port);
    await client.ended;
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(client.text()).toBe("");
    const line = await aegis.waitForLog((l) => l.msg === "session");
    expect(line.end).toBe("connect_failed");
    expect(line.attempts).toBe(2); // each server once: a retry never goes back to a server that failed
    const m = await aegis.metrics();
    expect(m.get(`aegis_connections_rejected_total{listener="main",reason="no_server"}`)).toBe(1);
    expect(m.get("aegis_upstream_connect_errors_total")).toBe(2);
  });

  test("a connect that hangs times out after connect_timeout and moves to the next server", async () => {
    const proc = Bun.spawn(["python3", join(import.meta.dir, "fixtures/blackhole.py")], { stdin: "pipe", stdout: "pipe" });
    cleanups.push(() => proc.kill());
    const reader = proc.stdout.getReader();
    const port = Number(new TextDecoder().decode((await reader.read()).value).trim());
    const echo = startEcho({ greeting: "second\n" });
    backends.push(echo);
    const hole = `127.0.0.1:${port}`;
    aegis = await startAegis(simpleConfig([hole, echo.address], { workers: 1, upstream: 'connect_timeout = "300ms"' }));
    const started = performance.now();
    expect(await greetingOf(aegis.port)).toBe("second");
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(250); // it waited for the hanging connect...
    expect(elapsed).toBeLessThan(2500); // ...for connect_timeout, not the default 3 s: 2 s of margin for a busy machine
    await eventually(async () => (await aegis!.metrics()).get(`aegis_upstream_connect_errors_total{upstream="app",server="${hole}"}`) === 1);
  });
});
