// The upstream pool: sockets connected ahead of time, greetings kept for the client, dead and old ones replaced.
import { afterEach, describe, expect, test } from "bun:test";
import { eventually, startAegis, simpleConfig, type Aegis } from "./helpers/aegis.ts";
import { startEcho, startScripted, type Backend } from "./helpers/backends.ts";
import { connect } from "./helpers/client.ts";

let aegis: Aegis | null = null;
const backends: Backend[] = [];
afterEach(async () => {
  await aegis?.stop("SIGKILL");
  aegis = null;
  for (const b of backends.splice(0)) b.stop();
});

const idleGauge = async (a: Aegis) => (await a.metrics()).get("aegis_upstream_pool_idle") ?? -1;

describe("upstream pool", () => {
  test("each Worker pre-connects `pool` sockets; a session uses one and the pool refills", async () => {
    const echo = startEcho({ greeting: "greeting first\n" });
    backends.push(echo);
    aegis = await startAegis(simpleConfig([echo.address], { workers: 2, global: "access_log = true", upstream: "pool = 3" }));
    await eventually(() => echo.accepted === 6, 3000, "2 Workers x 3 pooled sockets");
    await eventually(async () => (await idleGauge(aegis!)) === 6, 3000, "pool gauge shows 6 idle");
    const client = await connect(aegis.port);
    // The greeting the server sent long before the client came is delivered first, then the echo.
    expect(await client.waitFor((t) => t.includes("\n"))).toBe("greeting first\n");
    client.write("ping");
    await client.waitFor((t) => t === "greeting first\nping");
    client.socket.end();
    const line = await aegis.waitForLog((l) => l.msg === "session");
    expect(line.connect_ms).toBe(0);
    await eventually(() => echo.accepted === 7, 3000, "the used socket is replaced");
  });

  test("a pooled socket the server closes is dropped, never handed to a client", async () => {
    // This server closes every connection 100 ms after accepting it unless data has arrived.
    const server = startScripted({
      open(socket) {
        const timer = setTimeout(() => socket.end(), 100);
        socket.data = timer;
      },
      data(socket, data) {
        clearTimeout(socket.data as ReturnType<typeof setTimeout>);
        socket.write(data);
      },
    });
    backends.push(server);
    aegis = await startAegis(simpleConfig([server.address], { workers: 1, upstream: "pool = 2" }));
    await eventually(() => server.accepted >= 4, 5000, "pooled sockets closed by the server and replaced");
    // Whenever the client comes, it gets a working connection.
    for (let i = 0; i < 3; i++) {
      const client = await connect(aegis.port);
      client.write("alive?");
      expect(await client.waitFor((t) => t === "alive?")).toBe("alive?");
      client.socket.end();
      await Bun.sleep(120);
    }
    const m = await aegis.metrics();
    expect(m.get('aegis_connections_rejected_total{listener="main",reason="no_server"}')).toBe(0);
  });

  test("a pooled socket idle past pool_max_idle is recycled", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await startAegis(simpleConfig([echo.address], { workers: 1, upstream: 'pool = 1\npool_max_idle = "1200ms"' }));
    await eventually(() => echo.accepted === 1, 3000, "first pooled socket");
    await eventually(() => echo.accepted >= 2, 4000, "recycled after its max idle age");
    // The old one is closed, not leaked (its close may reach the server just after the new accept).
    await eventually(() => echo.open === 1, 2000, "exactly one pooled socket open");
  });
});
