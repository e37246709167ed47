// The upstream pool: sockets connected ahead of time, greetings kept for the client, dead and old ones replaced.
import { afterEach, describe, expect, test } from "bun:test";
import { outOfDescriptors } from "../src/os/descriptors.ts";
import { join } from "node:path";
import { eventually, startAegis, simpleConfig, type Aegis } from "./helpers/aegis.ts";
import type { Socket } from "bun";
import { startEcho, startScripted, closedPort, type Backend } from "./helpers/backends.ts";
import { Recycler } from "../src/primitives/recycler.ts";
import { QueuePool } from "../src/primitives/byte-queue.ts";
import { UpstreamConn, upstreamHandlers } from "../src/upstream/conn.ts";
import { QUIET_MIN_MS, ServerPool, type PoolHost } from "../src/upstream/pool.ts";
import { connect } from "./helpers/client.ts";
import { stopAfterEach } from "./helpers/teardown.ts";

let aegis: Aegis | null = null;
const { backends } = stopAfterEach(() => aegis);

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
    // This server closes its first four connections (the pool's) 100 ms after accepting them unless
    // data has arrived; later ones it keeps, so a socket handed out just as the server closes it (a
    // race every pool has, and a flake under load) cannot decide the test.
    let closing = 4;
    const server = startScripted({
      open(socket) {
        if (closing-- <= 0) return;
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
    await eventually(() => server.accepted - server.open >= 4, 10_000, "the four pooled sockets closed by the server");
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

  test("the server closing one pooled socket (a restart): the others are closed at once, it is counted and logged, and the pool refills only after a quiet period", async () => {
    const sockets: Socket<unknown>[] = [];
    const server = startScripted({ open(socket) { sockets.push(socket); }, end(socket) { socket.end(); } });
    backends.push(server);
    aegis = await startAegis(simpleConfig([server.address], { workers: 1, logLevel: "info", upstream: "pool = 3" }));
    await eventually(() => server.open === 3, 3000, "3 pooled sockets");
    sockets[0]!.end();
    const closedAt = performance.now();
    // A restarting PostgreSQL waits for the children of the other two: aegis must not keep them.
    await eventually(() => server.open === 0, 3000, "every pooled socket closed");
    expect(server.accepted).toBe(3); // and none dialled in their place yet
    const warned = await aegis.waitForLog((l) => l.level === "warn" && String(l.msg).startsWith("server closed idle pooled sockets"), 3000);
    expect(warned).toMatchObject({ upstream: "app", server: server.address, closed: 3 });
    expect(String(warned.hint)).toContain("pool_max_idle");
    const m = await aegis.metrics();
    expect(m.get(`aegis_upstream_pool_closed_total{upstream="app",server="${server.address}"}`)).toBe(1);
    expect(m.get(`aegis_upstream_pool_connections_total{upstream="app",server="${server.address}"}`)).toBe(3);
    expect(m.get("aegis_upstream_pool_idle")).toBe(0);
    await eventually(() => server.accepted === 6 && server.open === 3, 5000, "the pool fills again");
    // A lower bound, not a speed bound: the refill waited out the quiet period.
    expect(performance.now() - closedAt).toBeGreaterThanOrEqual(QUIET_MIN_MS - 50);
  });

  test("an unused pool empties at pool_max_idle instead of churning (each unused socket is an abandoned handshake); the next session fills it again", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await startAegis(simpleConfig([echo.address], { workers: 1, upstream: 'pool = 2\npool_max_idle = "1200ms"' }));
    await eventually(() => echo.open === 2, 3000, "2 pooled sockets");
    await eventually(() => echo.open === 0, 4000, "both closed at their max idle age");
    expect(await idleGauge(aegis)).toBe(0);
    // Not replaced: one more maintenance round (once a second) dials nothing.
    await Bun.sleep(1200);
    expect(echo.accepted).toBe(2);
    const client = await connect(aegis.port);
    client.write("wake");
    expect(await client.waitFor((t) => t === "wake")).toBe("wake");
    client.socket.end();
    // The session dialled for itself (the pool was empty) and the pool filled again behind it.
    await eventually(async () => echo.accepted === 5 && (await idleGauge(aegis!)) === 2, 3000, "pool filled again after a session");
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

// ServerPool on its own: real sockets to a real listener, but the pool's clock in the test's hands,
// so backoffs and quiet periods are checked exactly, without waiting for them.
describe("ServerPool: a server that closes, refuses or is down is left alone", () => {
  const MAX_IDLE = 5_000;

  class Host implements PoolHost {
    now = 1_000_000;
    dials = 0;
    connects = 0;
    connectErrors = 0;
    closedByServer = 0;
    idle = 0;
    readonly warnings: { msg: string; fields: Record<string, unknown> }[] = [];
    readonly #recycler = new Recycler(4 * 1024 * 1024);
    constructor(readonly port: number) {}
    connect(conn: UpstreamConn): void {
      this.dials++;
      Bun.connect({ hostname: "127.0.0.1", port: this.port, allowHalfOpen: true, data: conn, socket: upstreamHandlers }).catch(() => {});
    }
    newConn(server: number): UpstreamConn {
      return new UpstreamConn(server, new QueuePool(this.#recycler));
    }
    shortOfDescriptors = outOfDescriptors;
    countPoolConnectError(): void { this.connectErrors++; }
    countPoolConnect(): void { this.connects++; }
    countPoolClosed(): void { this.closedByServer++; }
    setPoolIdle(_server: number, idle: number): void { this.idle = idle; }
    warn(_server: number, msg: string, fields: Record<string, unknown>): void { this.warnings.push({ msg, fields }); }
  }

  /** A listener that keeps its accepted sockets, so the test can close one from the server side. */
  function startKeeping() {
    const sockets: Socket<unknown>[] = [];
    const backend = startScripted({
      open(socket) { sockets.push(socket); },
      end(socket) { socket.end(); },
    });
    backends.push(backend);
    return { backend, sockets };
  }

  const pools: ServerPool[] = [];
  afterEach(() => {
    for (const p of pools.splice(0)) p.stop();
  });
  function newPool(port: number, size = 3) {
    const host = new Host(port);
    const pool = new ServerPool(0, size, MAX_IDLE, 3_000, host);
    pools.push(pool);
    return { host, pool };
  }
  async function fill(pool: ServerPool, host: Host, backend: Backend, size = 3) {
    pool.refill();
    await eventually(() => host.idle === size && backend.open === size, 3000, `${size} pooled sockets open`);
  }

  test("the server closing one idle socket closes the others at once; nothing is dialled until the quiet period has passed", async () => {
    const { backend, sockets } = startKeeping();
    const { host, pool } = newPool(backend.port);
    await fill(pool, host, backend);
    expect(host.connects).toBe(3);

    sockets[0]!.end(); // as PostgreSQL's postmaster ends a child at a crash restart
    // The two others are closed by aegis, not left holding children the server waits for.
    await eventually(() => backend.open === 0, 3000, "every pooled socket closed");
    expect(host.idle).toBe(0);
    expect(host.closedByServer).toBe(1);
    expect(pool.retryAt - host.now).toBe(QUIET_MIN_MS);

    const dials = host.dials;
    host.now += QUIET_MIN_MS - 1;
    pool.maintain(host.now);
    expect(host.dials).toBe(dials); // still quiet
    host.now += 1;
    pool.maintain(host.now);
    expect(host.dials).toBe(dials + 3);
    await eventually(() => host.idle === 3, 3000, "the pool fills again after the quiet period");

    // The warning names what to change.
    expect(host.warnings.length).toBe(1);
    expect(host.warnings[0]!.msg).toContain("pooled sockets");
    expect(String(host.warnings[0]!.fields.hint)).toContain("pool_max_idle");
    expect(String(host.warnings[0]!.fields.hint)).toContain("pool = 0");
    expect(host.warnings[0]!.fields.closed).toBe(3);
  });

  test("while the server keeps closing pooled sockets the quiet period doubles, with one warning a minute; after a calm minute it starts over", async () => {
    const { backend, sockets } = startKeeping();
    const { host, pool } = newPool(backend.port);
    const quiet: number[] = [];
    for (let round = 0; round < 4; round++) {
      await fill(pool, host, backend);
      sockets.at(-1)!.end();
      await eventually(() => backend.open === 0, 3000, `round ${round}: every pooled socket closed`);
      quiet.push(pool.retryAt - host.now);
      host.now = pool.retryAt;
      pool.maintain(host.now);
    }
    expect(quiet).toEqual([QUIET_MIN_MS, 2 * QUIET_MIN_MS, 4 * QUIET_MIN_MS, 8 * QUIET_MIN_MS]);
    expect(host.warnings.length).toBe(1); // rate-limited: all four within a minute
    expect(host.closedByServer).toBe(4);

    await eventually(() => host.idle === 3, 3000, "refilled");
    host.now += 61_000; // a minute with no close (and no maintenance, so nothing was recycled)
    sockets.at(-1)!.end();
    await eventually(() => backend.open === 0, 3000, "closed again");
    expect(pool.retryAt - host.now).toBe(QUIET_MIN_MS);
    expect(host.warnings.length).toBe(2);
  });

  test("a socket aegis recycles at pool_max_idle is not a restart sign, and shows the server keeps pooled sockets", async () => {
    const { backend, sockets } = startKeeping();
    const { host, pool } = newPool(backend.port);
    await fill(pool, host, backend);
    sockets[0]!.end();
    await eventually(() => backend.open === 0, 3000, "closed by the restart sign");
    host.now = pool.retryAt;
    pool.maintain(host.now);
    await eventually(() => host.idle === 3 && backend.open === 3, 3000, "refilled");

    host.now += 1_000;
    pool.take()!.discard(); // a session came (sockets are replaced only while sessions come)
    await eventually(() => host.idle === 3 && backend.accepted === 7 && backend.open === 3, 3000, "the taken one replaced");
    const dials = host.dials;
    host.now += MAX_IDLE - 1_000;
    pool.maintain(host.now); // recycles the two at their max idle age (FIN from aegis) and dials their replacements at once
    expect(host.dials).toBe(dials + 2);
    await eventually(() => host.idle === 3 && backend.accepted === 9 && backend.open === 3, 3000, "two replaced");
    expect(host.closedByServer).toBe(1);
    expect(host.warnings.length).toBe(1);
    // The earlier close is forgotten: the next one waits the shortest quiet period again.
    sockets.at(-1)!.end();
    await eventually(() => backend.open === 0, 3000, "closed");
    expect(pool.retryAt - host.now).toBe(QUIET_MIN_MS);
  });

  test("aged sockets are replaced while sessions come; after pool_max_idle without one the pool empties, and the next session refills it", async () => {
    const { backend } = startKeeping();
    const { host, pool } = newPool(backend.port, 2);
    await fill(pool, host, backend, 2);
    host.now += 3_000;
    expect(pool.take()).not.toBeNull(); // a session; its socket is replaced at once
    await eventually(() => host.idle === 2, 3000, "refilled after the take");
    host.now += 2_000; // the first socket is at its max idle age, the session came 2 s ago
    pool.maintain(host.now);
    expect(host.dials).toBe(4);
    await eventually(() => host.idle === 2, 3000, "the aged socket replaced");
    host.now += MAX_IDLE; // both aged, and no session for longer than max idle
    pool.maintain(host.now);
    expect(host.idle).toBe(0);
    expect(host.dials).toBe(4);
    for (let i = 0; i < 3; i++) {
      host.now += 60_000;
      pool.maintain(host.now);
    }
    expect(host.dials).toBe(4);
    expect(pool.take()).toBeNull(); // the next session dials itself, and wakes the pool
    expect(host.dials).toBe(6);
    await eventually(() => host.idle === 2, 3000, "filled again");
    expect(host.closedByServer).toBe(0);
  });

  test("refused dials back off (one step per round) and are not repeated until then; a session's successful connect ends the wait", async () => {
    const port = closedPort();
    const { host, pool } = newPool(port);
    pool.refill();
    await eventually(() => host.connectErrors === 3, 3000, "three refused dials counted");
    expect(pool.retryAt - host.now).toBe(500);
    host.now += 499;
    pool.maintain(host.now);
    expect(host.dials).toBe(3);
    host.now += 1;
    pool.maintain(host.now);
    expect(host.dials).toBe(6);
    await eventually(() => host.connectErrors === 6, 3000, "second round refused");
    expect(pool.retryAt - host.now).toBe(1000);
    pool.maintain(host.now + 999);
    expect(host.dials).toBe(6);

    // The server is back: a session's own connect to it worked, so the pool need not wait any longer.
    pool.onSessionConnected();
    expect(pool.retryAt).toBe(0);
    pool.maintain(host.now);
    expect(host.dials).toBe(9);
  });

  test("a session's failed connect closes the idle sockets and stops refilling", async () => {
    const { backend } = startKeeping();
    const { host, pool } = newPool(backend.port);
    await fill(pool, host, backend);
    pool.onSessionConnectFailed();
    expect(host.idle).toBe(0);
    await eventually(() => backend.open === 0, 3000, "idle sockets closed");
    const dials = host.dials;
    pool.maintain(host.now + 100);
    expect(host.dials).toBe(dials);
  });

  test("nothing is dialled while the server is down, however much time passes; it fills again once up", async () => {
    const { backend } = startKeeping();
    const { host, pool } = newPool(backend.port);
    await fill(pool, host, backend);
    pool.setWanted(false);
    await eventually(() => backend.open === 0, 3000, "idle sockets to a down server closed");
    const dials = host.dials;
    for (let i = 0; i < 5; i++) {
      host.now += 60_000;
      pool.maintain(host.now);
    }
    expect(host.dials).toBe(dials);
    expect(host.closedByServer).toBe(0); // aegis closed them: no restart sign
    pool.setWanted(true);
    await eventually(() => host.idle === 3 && backend.open === 3, 3000, "refilled when up");
  });
});
