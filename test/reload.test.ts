// Reload without dropping a connection: SIGHUP, file watch, invalid files, listeners and servers
// added and removed, and 20 reloads under streaming load losing no byte.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { eventually, startAegis, type Aegis } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { connect } from "./helpers/client.ts";
import { expectIntact, pacedStreams } from "./helpers/streams.ts";
import { stopAfterEach } from "./helpers/teardown.ts";

let aegis: Aegis | null = null;
const { backends, clients } = stopAfterEach(() => aegis);

interface Shape {
  listeners: { name: string; bind: string; upstream: string }[];
  upstreams: { name: string; servers: string[] }[];
  global?: string;
}

function toml(shape: Shape): string {
  return [
    `[global]\nworkers = 2\nlog_level = "info"\naccess_log = false\n${shape.global ?? ""}`,
    `[metrics]\nlisten = "127.0.0.1:0"`,
    ...shape.listeners.map((l) => `[[listener]]\nname = "${l.name}"\nbind = "${l.bind}"\nupstream = "${l.upstream}"`),
    ...shape.upstreams.map((u) => `[[upstream]]\nname = "${u.name}"\nservers = [${u.servers.map((s) => `"${s}"`).join(", ")}]`),
  ].join("\n\n") + "\n";
}

const configPath = (a: Aegis) => String(a.logs.find((l) => l.msg === "ready")!.config);

async function reloadWith(a: Aegis, text: string): Promise<Record<string, unknown>> {
  writeFileSync(configPath(a), text);
  const seen = a.logs.length;
  a.proc.kill("SIGHUP");
  return a.waitForLog((l) => a.logs.indexOf(l) >= seen && (l.msg === "reloaded" || l.msg === "reload failed, the running configuration stays"), 5000);
}

async function greeting(port: number): Promise<string> {
  const c = await connect(port);
  const text = await c.waitFor((t) => t.includes("\n"));
  c.socket.end();
  return text.trim();
}

describe("reload", () => {
  test("SIGHUP: servers and listeners added and removed; the session in flight goes on untouched", async () => {
    const a = startEcho({ greeting: "a\n" });
    const b = startEcho({ greeting: "b\n" });
    backends.push(a, b);
    const first: Shape = { listeners: [{ name: "main", bind: "127.0.0.1:0", upstream: "app" }], upstreams: [{ name: "app", servers: [a.address] }] };
    aegis = await startAegis(toml(first));
    const port = aegis.port;
    const inflight = await connect(port);
    clients.push(inflight);
    await inflight.waitFor((t) => t === "a\n");

    const extra = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const extraPort = extra.port;
    extra.stop(true);
    const second: Shape = {
      listeners: [
        { name: "main", bind: `127.0.0.1:${port}`, upstream: "app" },
        { name: "side", bind: `127.0.0.1:${extraPort}`, upstream: "app" },
      ],
      upstreams: [{ name: "app", servers: [b.address] }],
    };
    const done = await reloadWith(aegis, toml(second));
    expect(done.msg).toBe("reloaded");
    expect(done.changes).toContain(`upstreams.app.servers (+1 -1): added ${b.address}; removed ${a.address} (their sessions go on, they get no new ones)`);
    expect(done.changes).toContain(`listeners.side: added on 127.0.0.1:${extraPort}`);
    // New sessions go to the new server, on the old and the new listener.
    for (let i = 0; i < 4; i++) expect(await greeting(port)).toBe("b");
    expect(await greeting(extraPort)).toBe("b");
    expect((await aegis.metrics()).get('aegis_connections_total{listener="side"}')).toBe(1);
    // The old session still talks to the removed server.
    inflight.write("still here");
    await inflight.waitFor((t) => t === "a\nstill here");

    // Remove the side listener again: it stops accepting, and the session it holds goes on.
    const onSide = await connect(extraPort);
    clients.push(onSide);
    await onSide.waitFor((t) => t === "b\n");
    const third = await reloadWith(aegis, toml({ ...second, listeners: [second.listeners[0]!] }));
    expect(third.changes).toContain(`listeners.side: removed from 127.0.0.1:${extraPort} (it stops accepting, its sessions go on)`);
    const refused = await Bun.connect({ hostname: "127.0.0.1", port: extraPort, socket: { data() {} } }).then(() => false, () => true);
    expect(refused).toBe(true);
    onSide.write("side still relays");
    await onSide.waitFor((t) => t === "b\nside still relays");
    // Counters continue across reloads (same listener name, same cells).
    const m = await aegis.metrics();
    expect(m.get('aegis_connections_total{listener="main"}')).toBe(5);
  });

  test("an invalid file changes nothing: the error is logged and the old config keeps serving", async () => {
    const a = startEcho({ greeting: "a\n" });
    backends.push(a);
    const shape: Shape = { listeners: [{ name: "main", bind: "127.0.0.1:0", upstream: "app" }], upstreams: [{ name: "app", servers: [a.address] }] };
    aegis = await startAegis(toml(shape));
    const failed = await reloadWith(aegis, toml(shape).replace(a.address, "127.0.0.1:99999"));
    expect(failed.msg).toBe("reload failed, the running configuration stays");
    expect(String(failed.error)).toContain(`upstream[0].servers[0]: "127.0.0.1:99999" is not a valid port`);
    expect(await greeting(aegis.port)).toBe("a");
    const busy = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const clash = await reloadWith(aegis, toml({ ...shape, listeners: [...shape.listeners.map((l) => ({ ...l, bind: `127.0.0.1:${aegis!.port}` })), { name: "x", bind: `127.0.0.1:${busy.port}`, upstream: "app" }] }));
      expect(String(clash.error)).toContain("address already in use");
    } finally {
      busy.stop(true);
    }
    expect(await greeting(aegis.port)).toBe("a");
  });

  test("watch = true reloads when the file changes", async () => {
    const a = startEcho({ greeting: "a\n" });
    const b = startEcho({ greeting: "b\n" });
    backends.push(a, b);
    const shape: Shape = { listeners: [{ name: "main", bind: "127.0.0.1:0", upstream: "app" }], upstreams: [{ name: "app", servers: [a.address] }], global: "watch = true" };
    aegis = await startAegis(toml(shape));
    const pinned = { ...shape, listeners: [{ name: "main", bind: `127.0.0.1:${aegis.port}`, upstream: "app" }] };
    const seen = aegis.logs.length;
    writeFileSync(configPath(aegis), toml({ ...pinned, upstreams: [{ name: "app", servers: [b.address] }] }));
    await aegis.waitForLog((l) => aegis!.logs.indexOf(l) >= seen && l.msg === "reloaded", 5000);
    expect(await greeting(aegis.port)).toBe("b");
  });

  test("a reload turns watching on, and another turns it off", async () => {
    const [a, b, c] = ["a", "b", "c"].map((g) => startEcho({ greeting: `${g}\n` }));
    backends.push(a!, b!, c!);
    const shape: Shape = { listeners: [{ name: "main", bind: "127.0.0.1:0", upstream: "app" }], upstreams: [{ name: "app", servers: [a!.address] }] };
    aegis = await startAegis(toml(shape));
    const pinned = (server: Backend, global = ""): string =>
      toml({ ...shape, global, listeners: [{ name: "main", bind: `127.0.0.1:${aegis!.port}`, upstream: "app" }], upstreams: [{ name: "app", servers: [server.address] }] });
    expect((await reloadWith(aegis, pinned(a!, "watch = true"))).msg).toBe("reloaded");
    // Watching now: a save alone reloads.
    let seen = aegis.logs.length;
    writeFileSync(configPath(aegis), pinned(b!, "watch = true"));
    await aegis.waitForLog((l) => aegis!.logs.indexOf(l) >= seen && l.msg === "reloaded", 5000);
    expect(await greeting(aegis.port)).toBe("b");
    // A save that says watch = false is still seen (it is watched until it is read), and ends watching.
    seen = aegis.logs.length;
    writeFileSync(configPath(aegis), pinned(b!));
    await aegis.waitForLog((l) => aegis!.logs.indexOf(l) >= seen && l.msg === "reloaded", 5000);
    seen = aegis.logs.length;
    writeFileSync(configPath(aegis), pinned(c!));
    await Bun.sleep(800);
    expect(aegis.logs.slice(seen).some((l) => l.msg === "reloaded")).toBe(false);
    expect(await greeting(aegis.port)).toBe("b");
  });

  test("20 reloads under streaming load, servers added and removed: no connection and no byte lost", async () => {
    const servers = [1, 2, 3, 4].map(() => startEcho());
    backends.push(...servers);
    const shape = (n: number): Shape => ({
      listeners: [{ name: "main", bind: "127.0.0.1:0", upstream: "app" }],
      upstreams: [{ name: "app", servers: servers.slice(n % 3, (n % 3) + 2).map((s) => s.address) }],
    });
    aegis = await startAegis(toml(shape(0)));
    const port = aegis.port;
    const pinned = (n: number) => toml({ ...shape(n), listeners: [{ name: "main", bind: `127.0.0.1:${port}`, upstream: "app" }] });
    // Streams paced to outlast the reloads on however slow a machine, then ended where they are:
    // every byte sent so far must come back.
    const load = pacedStreams(port, 40, 0.5);
    try {
      for (let n = 1; n <= 20; n++) {
        const done = await reloadWith(aegis, pinned(n));
        expect(done.msg).toBe("reloaded");
        await Bun.sleep(50);
      }
      expectIntact(await load.finish(), 40);
    } finally {
      load.kill();
    }
    await eventually(() => servers.every((s) => s.open === 0), 5000, "all upstream sockets closed");
  }, 90_000);
});
