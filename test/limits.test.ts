// Limits that protect the proxy: idle timeout, process-wide max_connections, and no leaked sockets.
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { eventually, startAegis, simpleConfig, type Aegis } from "./helpers/aegis.ts";
import { startEcho } from "./helpers/backends.ts";
import { connect, type Client } from "./helpers/client.ts";
import { stopAfterEach } from "./helpers/teardown.ts";

let aegis: Aegis | null = null;
const { backends, clients } = stopAfterEach(() => aegis);

async function echoed(port: number, text: string): Promise<Client> {
  const client = await connect(port);
  clients.push(client);
  client.write(text);
  await client.waitFor((t) => t === text);
  return client;
}

describe("limits", () => {
  test("idle_timeout closes a silent session and spares a talking one", async () => {
    const echo = startEcho();
    backends.push(echo);
    // The talker speaks every 150 ms against a 1.5 s timeout: a busy machine may delay a write by a
    // second and it still counts as talking. The silent one's end is asserted by order, with wide bounds.
    const IDLE_MS = 1500;
    aegis = await startAegis(simpleConfig([echo.address], { global: "access_log = true", listener: `idle_timeout = "${IDLE_MS}ms"` }));
    const silent = await echoed(aegis.port, "hi");
    const silentSince = performance.now(); // after its last byte: aegis's idle clock started before this
    const talker = await echoed(aegis.port, "x");
    let talkerEnded = false;
    void talker.ended.then(() => (talkerEnded = true));
    let said = "x";
    const chatter = setInterval(() => { said += "y"; talker.write("y"); }, 150);
    try {
      await silent.ended;
      const waited = performance.now() - silentSince;
      expect(waited).toBeGreaterThanOrEqual(IDLE_MS - 200); // not before its time (less what the echo took to reach us)
      expect(waited).toBeLessThan(IDLE_MS + 8000);
      await Bun.sleep(IDLE_MS); // part of the test: the talker lives past the timeout too, talking
      expect(talkerEnded).toBe(false);
    } finally {
      clearInterval(chatter);
    }
    await talker.waitFor((t) => t === said, 10_000);
    const line = await aegis.waitForLog((l) => l.msg === "session" && l.end === "idle_timeout");
    expect(line.bytes_in).toBe(2);
    await eventually(() => echo.open === 1, 10_000, "only the talker's upstream socket remains");
  });

  test("max_connections is exact across Workers: the excess is refused and counted, then capacity returns", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await startAegis(simpleConfig([echo.address], { workers: 2, global: "max_connections = 3" }));
    const held = [await echoed(aegis.port, "1"), await echoed(aegis.port, "2"), await echoed(aegis.port, "3")];
    for (let i = 0; i < 4; i++) {
      const refused = await connect(aegis.port);
      clients.push(refused);
      refused.write("nope");
      await refused.ended;
      expect(refused.text()).toBe("");
    }
    const m = await aegis.metrics();
    expect(m.get('aegis_connections_rejected_total{listener="main",reason="max_connections"}')).toBe(4);
    expect(m.get('aegis_connections_active{listener="main"}')).toBe(3);
    held[0]!.socket.end();
    await eventually(async () => (await aegis!.metrics()).get('aegis_connections_active{listener="main"}') === 2, 10_000, "one slot freed");
    await echoed(aegis.port, "again");
  });

  test("thousands of short sessions leave no socket open, upstream or downstream", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await startAegis(simpleConfig([echo.address], { logLevel: "info" }));
    const fds = () => readdirSync(`/proc/${aegis!.proc.pid}/fd`).length;
    const baseline = fds();
    const total = 3000;
    const concurrency = 50;
    let next = 0;
    const worker = async () => {
      while (next < total) {
        next++;
        const client = await connect(aegis!.port);
        client.write("ping");
        await client.waitFor((t) => t === "ping");
        client.socket.end();
        await client.closed;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    await eventually(() => echo.open === 0, 15_000, "every upstream socket closed");
    const m = await aegis.metrics();
    expect(m.get('aegis_connections_total{listener="main"}')).toBe(total);
    expect(m.get('aegis_connections_active{listener="main"}')).toBe(0);
    expect(m.get("aegis_upstream_connections_active")).toBe(0);
    expect(echo.accepted).toBe(total);
    await eventually(() => fds() <= baseline + 2, 10_000, "aegis's file descriptors back to baseline");
  }, 60_000);
});
