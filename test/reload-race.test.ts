// A reload applies on every Worker or on none: SIGHUP racing SIGTERM through the real binary, and a
// prepare that fails on one Worker (its port taken) leaving every Worker on the running config.
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { allocateShared } from "../src/control/slots.ts";
import { Supervisor } from "../src/control/supervisor.ts";
import { HealthMonitor } from "../src/health/monitor.ts";
import type { ToWorker } from "../src/control/messages.ts";
import { loadConfigFile } from "../src/config/load.ts";
import { Logger } from "../src/telemetry/log.ts";
import { startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { ensureBinary } from "./helpers/build.ts";
import { connect, type Client } from "./helpers/client.ts";

let aegis: Aegis | null = null;
let supervisor: Supervisor | null = null;
const backends: Backend[] = [];
const clients: Client[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.socket.terminate();
  await aegis?.stop("SIGKILL");
  aegis = null;
  await supervisor?.shutdown();
  supervisor = null;
  for (const b of backends.splice(0)) b.stop();
  for (const f of cleanups.splice(0)) f();
});

function echo(greeting: string): Backend {
  const b = startEcho({ greeting: `${greeting}\n` });
  backends.push(b);
  return b;
}

function toml(opts: { mainPort: number; server: Backend; side?: boolean; metrics?: string }): string {
  return `
[global]
workers = 2
log_level = "info"
access_log = false
shutdown_grace = "5s"

[metrics]
${opts.metrics ?? `listen = "127.0.0.1:0"`}

[[listener]]
name = "main"
bind = "127.0.0.1:${opts.mainPort}"
upstream = "app"
${opts.side ? `
[[listener]]
name = "side"
bind = "127.0.0.1:0"
upstream = "app"
` : ""}
[[upstream]]
name = "app"
servers = ["${opts.server.address}"]
`;
}

async function greeting(port: number): Promise<string> {
  const c = await connect(port);
  clients.push(c);
  const text = await c.waitFor((t) => t.includes("\n"));
  c.socket.end();
  return text.trim();
}

const refused = (port: number) => Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } }).then((s) => (s.end(), false), () => true);

const OUTCOMES = ["reloaded", "reload refused: shutting down", "reload failed, the running configuration stays"];

describe("reload racing shutdown (the real binary)", () => {
  // How SIGTERM follows SIGHUP: in the same instant, or once the reload has begun; with no session
  // (Workers exit at once on drain) or with sessions open (a draining Worker still answers, on
  // whichever Worker they landed). Each case three times: the interleaving differs from run to run.
  const cases = [
    { name: "together", after: null, sessions: 0 },
    { name: "together, sessions open", after: null, sessions: 3 },
    { name: "after 'reload requested'", after: "reload requested", sessions: 0 },
    { name: "after 'reload requested', sessions open", after: "reload requested", sessions: 3 },
  ];
  for (const round of [1, 2, 3]) {
    for (const c of cases) {
      test(`SIGHUP then SIGTERM (${c.name}, round ${round}): never "reloaded" after a Worker failed, never a throw`, async () => {
        const binary = ensureBinary();
        const a = echo("a");
        const b = echo("b");
        aegis = await startAegis(toml({ mainPort: 0, server: a }), { command: [binary] });
        const proc = aegis;
        const path = String(proc.logs.find((l) => l.msg === "ready")!.config);
        // The new file adds a listener (bound in the prepare) and changes the server.
        writeFileSync(path, toml({ mainPort: proc.port, server: b, side: true }));
        const held: Client[] = [];
        for (let i = 0; i < c.sessions; i++) {
          const client = await connect(proc.port);
          clients.push(client);
          await client.waitFor((t) => t === "a\n");
          held.push(client);
        }
        proc.proc.kill("SIGHUP");
        if (c.after) await proc.waitForLog((l) => l.msg === c.after);
        proc.proc.kill("SIGTERM");
        const outcome = await proc.waitForLog((l) => OUTCOMES.includes(String(l.msg)), 15_000);
        for (const client of held) {
          // A session drains on the server it had: it still relays, then ends.
          client.write("bye");
          await client.waitFor((t) => t === "a\nbye");
          client.socket.end();
        }
        // SIGTERM was sent once; a second would mean "exit now" (code 1). Bounded by the kill below.
        const killer = setTimeout(() => proc.proc.kill("SIGKILL"), 20_000);
        expect(await proc.proc.exited).toBe(0);
        clearTimeout(killer);
        const logs = proc.logs;
        const text = JSON.stringify(logs);
        expect(text).not.toContain("is not an object");
        expect(text).not.toContain("a Worker could not reload");
        expect(logs.filter((l) => l.level === "error")).toEqual([]);
        expect(logs.filter((l) => OUTCOMES.includes(String(l.msg)))).toEqual([outcome]); // one reload, one outcome
        if (outcome.msg !== "reloaded") expect(outcome.msg).toBe("reload refused: shutting down");
        expect(logs.at(-1)?.msg).toBe("stopped");
      }, 60_000);
    }
  }
});

describe("reload: prepare everywhere, then commit everywhere", () => {
  test("a prepare that fails on one Worker (its port taken) aborts everywhere: every Worker stays on the running config", async () => {
    const a = echo("a");
    const b = echo("b");
    const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } }); // no SO_REUSEPORT: nobody can share it
    cleanups.push(() => busy.stop(true));
    const dir = tempDir();
    const path = join(dir, "aegis.toml");
    writeFileSync(path, toml({ mainPort: 0, server: a, metrics: "enabled = false" }));
    // Worker 1's reload messages pass through here. Its prepare is held back until the test lets it
    // go (Worker 0 has prepared by then: it goes first), so a client can reach the listener Worker 0
    // bound before anything commits; while `takePort` is set, the port that prepare is told to share
    // for the new listener is replaced by the busy one, as if another process had taken it.
    let takePort = true;
    let held: { message: ToWorker; release(): void } | null = null;
    let onHeld: (port: number) => void = () => {};
    let spawned = 0;
    const spawn = () => {
      const worker = new Worker(new URL("../src/worker.ts", import.meta.url).href);
      if (spawned++ === 1) {
        const post = worker.postMessage.bind(worker);
        worker.postMessage = (message: ToWorker) => {
          const m = message as ToWorker & { ports?: (number | null)[] };
          if ((m.type === "reload_prepare" || (m.type as string) === "reload") && m.ports && m.ports.length > 1) {
            const port = m.ports[1]!;
            if (takePort) message = { ...m, ports: m.ports.map((p, i) => (i === 1 ? busy.port : p)) } as ToWorker;
            held = { message, release: () => post(message) };
            return onHeld(port);
          }
          post(message);
        };
      }
      return worker;
    };
    const heldPrepare = () => new Promise<number>((resolve) => (onHeld = resolve));
    const config = loadConfigFile(path);
    const logger = new Logger("error");
    supervisor = new Supervisor({ config, logger, spawn, memory: allocateShared(config), health: (c, events) => new HealthMonitor(c, logger, events) });
    const ready = await supervisor.start();
    const mainPort = Number(ready.listeners[0]!.address.split(":").pop());
    writeFileSync(path, toml({ mainPort, server: b, side: true, metrics: "enabled = false" }));

    let prepared = heldPrepare();
    let reloading = supervisor.reload();
    let sidePort = await prepared;
    // Worker 0 listens on the new port already; a client there waits, unserved, for the outcome.
    const early = await connect(sidePort);
    clients.push(early);
    early.write("early");
    expect(b.accepted).toBe(0);
    held!.release();
    const failed = await reloading;
    expect(failed.ok).toBe(false);
    expect(failed.ok ? "" : failed.error).toContain("Worker 1 could not prepare the reload");
    expect(failed.ok ? "" : failed.error).toContain(`listener side: cannot listen on 127.0.0.1:${busy.port}`);
    // The early client is cut, having reached no server; Worker 0 no longer listens there.
    await early.ended;
    expect(early.text()).toBe("");
    expect(await refused(sidePort)).toBe(true);
    // The Supervisor and both Workers still run the old config: many connections, so that the
    // kernel hands some to each Worker (all to one: p = 2^-19), all greeted by the old server.
    expect(supervisor.config.listeners.map((l) => l.name)).toEqual(["main"]);
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add(await greeting(mainPort));
    expect([...seen]).toEqual(["a"]);
    expect(b.accepted).toBe(0);

    // With the port free, the same file reloads on both Workers; a client that reached the new
    // listener before the commit is served under the new config once it lands.
    takePort = false;
    prepared = heldPrepare();
    reloading = supervisor.reload();
    sidePort = await prepared;
    const waiting = await connect(sidePort);
    clients.push(waiting);
    waiting.write("early");
    held!.release();
    expect(await reloading).toMatchObject({ ok: true });
    await waiting.waitFor((t) => t === "b\nearly");
    const seenAfter = new Set<string>();
    for (let i = 0; i < 20; i++) seenAfter.add(await greeting(mainPort));
    expect([...seenAfter]).toEqual(["b"]);
    expect(await greeting(sidePort)).toBe("b");
    expect(supervisor.config.listeners.map((l) => l.name)).toEqual(["main", "side"]);
  }, 60_000);
});
