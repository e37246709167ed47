// Many concurrent streams with slow readers on both sides: every byte arrives, in order, exactly once.
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { eventually, startAegis, simpleConfig, type Aegis } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";

let aegis: Aegis | null = null;
const backends: Backend[] = [];
afterAll(async () => {
  await aegis?.stop("SIGKILL");
  for (const b of backends) b.stop();
});

async function runLoad(port: number, connections: number, bytes: number, slowFraction: number) {
  const proc = Bun.spawn(
    [process.execPath, join(import.meta.dir, "fixtures/stream-load.ts"), String(port), String(connections), String(bytes), String(slowFraction), "90000"],
    { stdout: "pipe", stderr: "pipe" },
  );
  const timer = setTimeout(() => proc.kill("SIGKILL"), 100_000);
  const [out, err] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  clearTimeout(timer);
  if (!out.trim()) throw new Error(`load client printed nothing; stderr: ${err}`);
  return JSON.parse(out.trim().split("\n").pop()!) as { ok: number; mismatched: number; short: number; errors: string[]; elapsedMs: number };
}

test("500 concurrent connections x 1 MiB in random chunks, a quarter with slow readers, sha256-checked", async () => {
  // Two fast echo servers and one that reads slowly, so backpressure is exercised toward the server too.
  backends.push(startEcho(), startEcho(), startEcho({ readDelayMs: 3 }));
  aegis = await startAegis(simpleConfig(backends.map((b) => b.address), { logLevel: "info", global: "max_connections = 5000" }));
  const result = await runLoad(aegis.port, 500, 1024 * 1024, 0.25);
  expect(result.errors).toEqual([]);
  expect(result).toMatchObject({ ok: 500, mismatched: 0, short: 0 });
  console.log(`stress: 500 x 1 MiB echoed through aegis in ${result.elapsedMs} ms`);

  // Nothing lingers: every upstream socket closed, gauges back to zero.
  await eventually(() => backends.every((b) => b.open === 0), 5000, "all upstream sockets closed");
  const m = await aegis.metrics();
  expect(m.get('aegis_connections_total{listener="main"}')).toBe(500);
  expect(m.get('aegis_connections_active{listener="main"}')).toBe(0);
  expect(m.get("aegis_upstream_connections_active")).toBe(0);
  expect(m.get('aegis_bytes_received_total{listener="main"}')).toBe(500 * 1024 * 1024);
  expect(m.get('aegis_bytes_sent_total{listener="main"}')).toBe(500 * 1024 * 1024);
}, 120_000);
