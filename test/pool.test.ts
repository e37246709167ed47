// The upstream pool: sockets connected ahead of time, greetings kept for the client, dead and old ones replaced.
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
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

  test("a server drained or disabled through the admin API keeps no pooled sockets; ready fills the pool again", async () => {
    const echo = startEcho();
    backends.push(echo);
    const token = "pool-test-token-0123456789abcdef";
    aegis = await startAegis(simpleConfig([echo.address], { workers: 1, upstream: "pool = 2" }) + `\n[admin]\ntoken = "${token}"\n`);
    await eventually(() => echo.open === 2, 3000, "2 pooled sockets");
    const setState = async (state: string) => {
      const r = await fetch(`http://127.0.0.1:${aegis!.metricsPort}/api/upstreams/app/servers/0/state`, {
        method: "POST", headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ state }),
      });
      expect(r.status).toBe(200);
    };
    for (const state of ["draining", "disabled"]) {
      await setState(state);
      // Draining must let the server reach zero connections: nothing pooled holds one open.
      await eventually(() => echo.open === 0, 3000, `no socket open to a ${state} server`);
      expect(await idleGauge(aegis)).toBe(0);
      await setState("ready");
      await eventually(() => echo.open === 2, 3000, "the pool fills again once the server is ready");
    }
  });

  test("a pooled connect to a server that never answers gives up after connect_timeout and is counted", async () => {
    const hole = Bun.spawn(["python3", join(import.meta.dir, "fixtures/blackhole.py")], { stdin: "pipe", stdout: "pipe" });
    try {
      const reader = hole.stdout.getReader();
      const port = Number(new TextDecoder().decode((await reader.read()).value).trim());
      const server = `127.0.0.1:${port}`;
      aegis = await startAegis(simpleConfig([server], { workers: 1, upstream: 'pool = 2\nconnect_timeout = "300ms"' }));
      // Both dials hang (the kernel would retry the SYN for two minutes); checked once a second.
      const errors = async () => (await aegis!.metrics()).get(`aegis_upstream_connect_errors_total{upstream="app",server="${server}"}`) ?? 0;
      await eventually(async () => (await errors()) >= 2, 4000, "both hanging pool dials counted as connect errors");
      expect(await idleGauge(aegis)).toBe(0);
      // Backing off: no new pair of dials at every check.
      const counted = await errors();
      await Bun.sleep(1200);
      expect(await errors()).toBeLessThanOrEqual(counted + 2);
    } finally {
      hole.kill();
    }
  });
});
