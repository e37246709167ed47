// Running out of file descriptors is aegis's problem, never the server's: under `ulimit -n 256` the
// binary warns at start, refuses what does not fit as fd_limit, keeps a healthy server up, and
// serves again once descriptors come back.
import { afterEach, describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { readdirSync } from "node:fs";
import { BINARY, eventually, simpleConfig, startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";

const LIMIT = 256;
let aegis: Aegis | null = null;
let echo: Backend | null = null;
const sockets: Socket<Peer>[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  await aegis?.stop("SIGKILL");
  aegis = null;
  echo?.stop();
  echo = null;
});

interface Peer { got: string; closed: boolean }

/** The real binary with a low open-file limit, as `ulimit -n` in a shell would set it. */
async function startLimited(): Promise<Aegis> {
  echo = startEcho();
  // A session short of descriptors waits up to connect_timeout before it is refused: make that long.
  return startAegis(simpleConfig([echo.address], { workers: 2, logLevel: "info", upstream: `connect_timeout = "60s"` }), {
    command: ["bash", "-c", `ulimit -n ${LIMIT} && exec "$0" "$@"`, BINARY],
    cwd: tempDir(),
  });
}

/** `count` clients that each send a line and hold their connection open. */
async function holdClients(port: number, count: number): Promise<Peer[]> {
  const peers: Peer[] = [];
  await Promise.all(Array.from({ length: count }, async () => {
    const peer: Peer = { got: "", closed: false };
    peers.push(peer);
    const socket = await Bun.connect<Peer>({
      hostname: "127.0.0.1",
      port,
      data: peer,
      socket: {
        open(s) { s.write("ping\n"); },
        data(s, data) { s.data.got += data.toString(); },
        close(s) { s.data.closed = true; },
        error() {},
      },
    });
    sockets.push(socket);
  }));
  return peers;
}

const served = (peers: Peer[]) => peers.filter((p) => p.got === "ping\n").length;
const refused = (peers: Peer[]) => peers.filter((p) => p.closed && p.got === "").length;

describe("file descriptors", () => {
  test("ulimit -n 256 and 400 clients: a start warning, the excess refused as fd_limit, the server never blamed, service again once they leave", async () => {
    aegis = await startLimited();
    const warning = await aegis.waitForLog((l) => l.msg === "max_connections does not fit the open-file limit");
    expect(warning).toMatchObject({ level: "warn", max_connections: 10000, open_file_limit: LIMIT });
    const fit = warning.sessions_that_fit as number;
    expect(fit).toBeGreaterThan(0);
    expect(fit).toBeLessThan(LIMIT / 2);
    expect(String(warning.fix)).toContain("LimitNOFILE=");
    expect(String(warning.fix)).toContain("ulimit -n");

    const peers = await holdClients(aegis.port, 400);
    await eventually(() => served(peers) + refused(peers) === 400, 30_000, "every client served or refused");
    expect(served(peers)).toBe(fit);

    const m = await aegis.metrics();
    expect(m.get('aegis_connections_rejected_total{listener="main",reason="fd_limit"}')).toBe(400 - fit);
    expect(m.get('aegis_connections_rejected_total{listener="main",reason="no_server"}')).toBe(0);
    expect(m.get("aegis_upstream_connect_errors_total")).toBe(0);
    expect(aegis.logs.filter((l) => l.level === "warn" && /eject/i.test(String(l.msg)))).toEqual([]);
    const errors = aegis.logs.filter((l) => l.msg?.startsWith("too many open files"));
    expect(errors.length).toBeGreaterThanOrEqual(1);
    expect(errors.length).toBeLessThanOrEqual(4); // rate-limited: at most one per Worker per 10 s

    // Descriptors come back: new clients are served again.
    for (const s of sockets.splice(0)) s.end();
    await eventually(async () => (await aegis!.metrics()).get("aegis_connections_active") === 0, 30_000, "every session ended");
    const again = await holdClients(aegis.port, 20);
    await eventually(() => served(again) === 20, 30_000, "20 new clients served");
  }, 90_000);

  test("descriptors eaten by something else (idle metrics clients): accepts wait in the backlog, nothing is blamed on the server, all are served once they come back", async () => {
    aegis = await startLimited();
    const warning = await aegis.waitForLog((l) => l.msg === "max_connections does not fit the open-file limit");
    const fit = warning.sessions_that_fit as number;
    // Half-sent requests to the metrics port: each holds a descriptor in aegis (a silent connection
    // would not: the HTTP server defers accepting until bytes arrive).
    const openDescriptors = () => readdirSync(`/proc/${aegis!.proc.pid}/fd`).length;
    const before = openDescriptors();
    const hogs: Socket<undefined>[] = [];
    for (let i = 0; i < 120; i++) {
      const hog = await Bun.connect({ hostname: "127.0.0.1", port: aegis.metricsPort!, socket: { data() {}, error() {} } });
      hog.write("GET /metrics HTTP/1.1\r\nHost: aegis\r\n");
      hogs.push(hog);
    }
    try {
      // A connect completes in the kernel's backlog: wait until aegis has accepted every hog, or the
      // clients below could find the descriptors still free on a busy machine.
      await eventually(() => openDescriptors() >= before + hogs.length, 30_000, "aegis holds every hog");
      const peers = await holdClients(aegis.port, fit);
      // Some sessions fit in what is left; the rest wait (in the kernel's backlog or refused as fd_limit).
      await eventually(() => served(peers) > 0, 30_000, "some clients served while short");
      // Short of descriptors, aegis takes no more than it can connect: the rest wait, none is lost.
      expect(served(peers) + refused(peers)).toBeLessThan(fit);
      for (const h of hogs.splice(0)) h.terminate();
      await eventually(() => served(peers) + refused(peers) === fit, 30_000, "every client served or refused");
      expect(served(peers)).toBe(fit);
      const m = await aegis.metrics();
      expect(m.get('aegis_connections_rejected_total{listener="main",reason="no_server"}')).toBe(0);
      expect(m.get("aegis_upstream_connect_errors_total")).toBe(0);
      expect(aegis.logs.filter((l) => /eject/i.test(String(l.msg)))).toEqual([]);
      expect(m.get('aegis_connections_rejected_total{listener="main",reason="fd_limit"}')).toBe(0);
      expect(aegis.logs.filter((l) => l.msg?.startsWith("too many open files")).length).toBeGreaterThanOrEqual(1);
    } finally {
      for (const h of hogs) h.terminate();
    }
  }, 90_000);
});
