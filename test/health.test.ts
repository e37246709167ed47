// Health: active checks with rise/fall over real backends, send/expect, passive ejection with backoff,
// and clients never noticing a server that dies while a healthy one remains.
import { afterEach, describe, expect, test } from "bun:test";
import { eventually, startAegis, simpleConfig, type Aegis } from "./helpers/aegis.ts";
import { closedPort, startEcho, startScripted, type Backend } from "./helpers/backends.ts";
import { connect } from "./helpers/client.ts";
import { snapshotsApplied, waitFor } from "./helpers/wait.ts";

let aegis: Aegis | null = null;
const backends: Backend[] = [];
afterEach(async () => {
  await aegis?.stop("SIGKILL");
  aegis = null;
  for (const b of backends.splice(0)) b.stop();
});

/** A Redis-like server: answers PING with +PONG (or with `answer`), echoes anything else, greets with its name. */
function pingServer(name: string, port = 0): Backend {
  return startScripted({
    open(socket) { socket.write(`${name}\n`); },
    data(socket, data) { socket.write(data.toString() === "PING\r\n" ? "+PONG\r\n" : data); },
    end(socket) { socket.shutdown(); },
  }, port);
}

const stateOf = async (a: Aegis, server: string) => {
  const m = await a.metrics();
  for (const s of ["up", "down", "ejected", "draining", "disabled"]) {
    if (m.get(`aegis_server_state{upstream="app",server="${server}",state="${s}"}`) === 1) return s;
  }
  return "?";
};

async function greetingOf(port: number): Promise<string> {
  const client = await connect(port);
  // A session closed before its greeting fails at once, not after waitFor's 10 s.
  const text = await Promise.race([
    client.waitFor((t) => t.includes("\n")),
    client.closed.then(() => {
      if (client.text().includes("\n")) return client.text();
      throw new Error(`closed before a greeting (got ${JSON.stringify(client.text())})`);
    }),
  ]);
  client.socket.end();
  return text.trim();
}

// The timeout as long as the interval allows: a healthy server's check answered late on a busy machine must not fail.
const HEALTH = `health = { interval = "200ms", timeout = "200ms", rise = 2, fall = 2, send = "PING\\r\\n", expect = "+PONG" }`;

describe("active health checks", () => {
  test("checks run once per process, not once per Worker: four Workers, one probe per interval", async () => {
    const server = pingServer("s");
    backends.push(server);
    aegis = await startAegis(simpleConfig([server.address], { workers: 4, upstream: `health = { interval = "100ms", timeout = "80ms", rise = 1, fall = 1 }` }));
    const before = server.accepted;
    const started = performance.now();
    // Wait for ten probes, however long a busy machine takes, then compare with the time that took:
    // once per process is at most one per 100 ms interval; once per Worker would be four.
    await waitFor(() => server.accepted - before >= 10, { timeoutMs: 20_000, intervalMs: 5, what: "ten probes" });
    const probes = server.accepted - before;
    const intervals = (performance.now() - started) / 100;
    expect(probes).toBeLessThanOrEqual(Math.ceil(intervals) + 2);
  });

  test("a server that answers wrongly goes down and gets no new connections; fixed, it rejoins after rise", async () => {
    let answer = "-ERR\r\n";
    const good = pingServer("good");
    const flaky = startScripted({
      open(socket) { socket.write("flaky\n"); },
      data(socket, data) { socket.write(data.toString() === "PING\r\n" ? answer : data); },
    });
    backends.push(good, flaky);
    aegis = await startAegis(simpleConfig([good.address, flaky.address], { workers: 2, upstream: HEALTH }));
    const down = await aegis.waitForLog((l) => l.msg === "server state" && l.server === flaky.address && l.to === "down", 10_000);
    expect(String(down.reason)).toContain("2 check(s) in a row failed");
    await snapshotsApplied(aegis.metricsPort); // logged on the main thread; the Workers have it once acknowledged
    expect(await stateOf(aegis, flaky.address)).toBe("down");
    expect((await aegis.metrics()).get(`aegis_server_up{upstream="app",server="${flaky.address}"}`)).toBe(0);
    const before = flaky.accepted;
    const greetStart = performance.now();
    for (let i = 0; i < 10; i++) expect(await greetingOf(aegis.port)).toBe("good");
    // Only the health checks themselves reached it (one every 200 ms, however long the 10 took), no client session.
    expect(flaky.accepted - before).toBeLessThanOrEqual(Math.ceil((performance.now() - greetStart) / 200) + 2);

    answer = "+PONG\r\n";
    await aegis.waitForLog((l) => l.msg === "server state" && l.server === flaky.address && l.to === "up", 10_000);
    // The main thread logs "up", then tells the Workers: once they acknowledge, sessions reach flaky again.
    await snapshotsApplied(aegis.metricsPort);
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) seen.add(await greetingOf(aegis.port));
    expect([...seen].sort()).toEqual(["flaky", "good"]);
    const m = await aegis.metrics();
    expect(m.get(`aegis_server_state_changes_total{upstream="app",server="${flaky.address}"}`)).toBe(2);
    expect(m.get(`aegis_health_check_duration_seconds_count{upstream="app",server="${good.address}"}`)).toBeGreaterThan(3);
  });

  test("a killed server is marked down within fall x interval, and comes back after rise when restarted", async () => {
    const a = pingServer("a");
    let b = pingServer("b");
    backends.push(a);
    const port = b.port;
    aegis = await startAegis(simpleConfig([a.address, b.address], { workers: 2, upstream: HEALTH }));
    const checksOfB = async () => (await aegis!.metrics()).get(`aegis_health_check_duration_seconds_count{upstream="app",server="${b.address}"}`) ?? 0;
    await waitFor(async () => (await checksOfB()) >= 2, { what: "b checked twice while alive" });
    b.stop();
    const killedAt = performance.now();
    const down = await aegis.waitForLog((l) => l.msg === "server state" && l.server === b.address && l.to === "down", 10_000);
    expect(String(down.reason)).toContain("2 check(s) in a row failed");
    // fall (2) x interval (200 ms) and a check's timeout take about 0.6 s; the bound leaves a busy machine seconds.
    expect(performance.now() - killedAt).toBeLessThan(5_000);
    b = pingServer("b", port); // the same address, back
    backends.push(b);
    const upAgain = await aegis.waitForLog((l) => l.msg === "server state" && l.server === b.address && l.to === "up", 10_000);
    expect(String(upAgain.reason)).toContain("2 check(s) in a row passed");
    await eventually(async () => (await greetingOf(aegis!.port)) === "b", 10_000, "sessions reach the restarted server");
  });
});

describe("clients do not notice a dying server", () => {
  test("under a stream of new connections, killing one of three servers fails no client that comes after", async () => {
    const servers = ["a", "b", "c"].map((n) => pingServer(n));
    backends.push(...servers);
    aegis = await startAegis(simpleConfig(servers.map((s) => s.address), { workers: 2, logLevel: "info", upstream: HEALTH }));
    // A session the dying server's kernel had already accepted (its handshake done, the greeting
    // not yet sent) is reset with it: aegis cannot tell that from a server that reset a session.
    // On a quiet machine that window is microseconds; on a busy one, where the server's process
    // waits for the CPU, a few of the 8 sessions in flight fall into it. Every session that starts
    // after the kill must succeed, and those in flight at the kill may fail at most once each.
    const CLIENTS = 8;
    let killed = false;
    let failures = 0;
    let inFlightFailures = 0;
    let done = 0;
    // Load for as long as it takes: sessions before the kill, the server marked down, and as many
    // again after, rather than a fixed 3 s in which a busy machine might manage few sessions.
    let running = true;
    const client = async () => {
      while (running && done < 20_000) {
        const afterKill = killed;
        try {
          const g = await greetingOf(aegis!.port);
          if (!["a", "b", "c"].includes(g)) failures++;
        } catch {
          if (afterKill) failures++;
          else inFlightFailures++;
        }
        done++;
      }
    };
    const load = Promise.all(Array.from({ length: CLIENTS }, client));
    try {
      await waitFor(() => done >= 100, { timeoutMs: 20_000, what: "100 sessions before the kill" });
      servers[1]!.stop();
      killed = true;
      await aegis.waitForLog((l) => l.msg === "server state" && l.server === servers[1]!.address && l.to === "down", 10_000);
      const atDown = done;
      await waitFor(() => done >= atDown + 100, { timeoutMs: 20_000, what: "100 sessions after the server went down" });
    } finally {
      running = false;
      await load;
    }
    expect(failures).toBe(0);
    expect(inFlightFailures).toBeLessThanOrEqual(CLIENTS);
    expect(await stateOf(aegis, servers[1]!.address)).toBe("down");
  }, 60_000);
});

describe("passive checks", () => {
  test("a server that accepts every connection but resets the sessions is ejected too", async () => {
    const good = startEcho({ greeting: "good\n" });
    // Greets, then resets the session as soon as the client speaks.
    const resetter = startScripted({ open(socket) { socket.write("bad\n"); }, data(socket) { socket.terminate(); } });
    backends.push(good, resetter);
    aegis = await startAegis(simpleConfig([resetter.address, good.address], { workers: 1, upstream: 'fail_threshold = 3\neject_for = "10s"' }));
    const seen: string[] = [];
    for (let i = 0; i < 30 && !aegis.logs.some((l) => l.msg === "server state" && l.to === "ejected"); i++) {
      const client = await connect(aegis.port);
      const name = (await client.waitFor((t) => t.includes("\n"))).trim();
      seen.push(name);
      client.write("hello\n");
      if (name === "good") await client.waitFor((t) => t === "good\nhello\n");
      else await client.closed;
      client.socket.end();
    }
    const ejected = await aegis.waitForLog((l) => l.msg === "server state" && l.server === resetter.address && l.to === "ejected", 10_000);
    expect(String(ejected.reason)).toContain("3 connection failures in a row");
    // Round robin alternates, so it took three resets, each after a connection that succeeded.
    expect(seen.filter((n) => n === "bad").length).toBe(3);
    await snapshotsApplied(aegis.metricsPort);
    for (let i = 0; i < 4; i++) expect(await greetingOf(aegis.port)).toBe("good");
  });

  test("consecutive connect failures eject a server; the ejection ends, and doubles when it fails again", async () => {
    const good = startEcho({ greeting: "good\n" });
    backends.push(good);
    const dead = `127.0.0.1:${closedPort()}`;
    // Ejected for 3 s: the four sessions that check "not even tried" have seconds, on a busy machine too (600 ms before).
    aegis = await startAegis(simpleConfig([dead, good.address], { workers: 1, upstream: 'fail_threshold = 2\neject_for = "3s"' }));
    for (let i = 0; i < 4; i++) expect(await greetingOf(aegis.port)).toBe("good");
    const ejected = await aegis.waitForLog((l) => l.msg === "server state" && l.server === dead && l.to === "ejected", 10_000);
    expect(String(ejected.reason)).toContain("2 connection failures in a row");
    await snapshotsApplied(aegis.metricsPort); // the Worker has the ejection: from here it does not try the server
    const errorsAtEjection = (await aegis.metrics()).get(`aegis_upstream_connect_errors_total{upstream="app",server="${dead}"}`);
    // While ejected, the dead server is not even tried.
    for (let i = 0; i < 4; i++) expect(await greetingOf(aegis.port)).toBe("good");
    expect((await aegis.metrics()).get(`aegis_upstream_connect_errors_total{upstream="app",server="${dead}"}`)).toBe(errorsAtEjection);
    await aegis.waitForLog((l) => l.msg === "server state" && l.server === dead && l.to === "up", 15_000);
    for (let i = 0; i < 4; i++) expect(await greetingOf(aegis.port)).toBe("good");
    const second = await aegis.waitForLog((l) => l.msg === "server state" && l.server === dead && l.to === "ejected" && l !== ejected, 10_000);
    expect(String(second.reason)).toContain("ejected for 6 s");
  });
});
