// aegis as a library, used as another project would: a package in a temp dir that depends on this
// repository by path, a program that starts proxies in front of a real echo server, and tsc against
// the emitted declarations (a typo in the config object must be a type error).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, tempDir } from "./helpers/aegis.ts";
import { run, type Run } from "./helpers/build.ts";

const TSC = [process.execPath, join(REPO, "node_modules/typescript/bin/tsc")];

/** The consumer's program: every fact it learns goes into one JSON line on stdout, for the test to judge. */
const PROGRAM = `
import { startProxy, ConfigError, type ConfigInput, type ListenerInput, type ReloadEvent, type ServerChange, type SessionRecord, type UpstreamInput } from "aegis";

const echo = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data(s, d) { s.write(d); } } });
const TOKEN = "library-admin-token-0123";
const config = (extra: ListenerInput[] = [], metrics = true, upstreams: UpstreamInput[] = []): ConfigInput => ({
  global: { workers: 2, shutdown_grace: "5s" },
  metrics: metrics ? { listen: "127.0.0.1:0" } : { enabled: false },
  ...(metrics ? { admin: { token: TOKEN } } : {}),
  listener: [{ name: "front", bind: "127.0.0.1:0", upstream: "echo" }, ...extra],
  upstream: [{ name: "echo", servers: [{ address: \`127.0.0.1:\${echo.port}\`, name: "echo-1" }] }, ...upstreams],
});
/** An upstream whose one server refuses connections: its active check takes it down. */
const dead: UpstreamInput = { name: "dead", servers: ["127.0.0.1:1"], health: { interval: "100ms", timeout: "50ms", rise: 1, fall: 1 } };

/** Sends \`payload\` through \`port\` and resolves with what came back once it is all there. */
function roundTrip(port: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = "";
    const timer = setTimeout(() => reject(new Error("no echo within 10 s")), 10_000);
    Bun.connect({ hostname: "127.0.0.1", port, socket: {
      open(s) { s.write(payload); },
      data(s, d) { got += d.toString(); if (got.length >= payload.length) { clearTimeout(timer); s.end(); resolve(got); } },
      connectError(_s, err) { clearTimeout(timer); reject(err); },
    } });
  });
}

/** Resolves once \`ready()\` holds, checked at each event; bounded in time. */
const waiters: (() => void)[] = [];
const wake = () => waiters.splice(0).forEach((w) => w());
async function until(ready: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (let i = 0; i < 1000 && !ready(); i++) {
    if (Date.now() > deadline) throw new Error("timed out waiting for " + what);
    await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 1000); });
  }
}

const logs: string[] = [];
const proxy = await startProxy(config(), { log: (r) => logs.push(r.msg) });
const signalHandlers = ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR2"].reduce((n, s) => n + process.listenerCount(s), 0);
const sessions: SessionRecord[] = [];
const reloads: ReloadEvent[] = [];
proxy.on("session", (s) => { sessions.push(s); wake(); });
proxy.on("reload", (r) => { reloads.push(r); wake(); });
const servers: ServerChange[] = [];
proxy.on("server", (c) => { servers.push(c); wake(); });
const payload = "bytes through aegis ".repeat(100);
const front = proxy.listeners[0]!.port;
const first = await roundTrip(front, payload);
await until(() => sessions.length >= 1, "the first session event");

const reloaded = await proxy.reload(config([{ name: "second", bind: "127.0.0.1:0", upstream: "echo" }], true, [dead]));
const second = proxy.listeners.find((l) => l.name === "second")!;
const viaSecond = await roundTrip(second.port, "second listener");
let refused: { name: string; problems: string[] } | null = null;
try {
  await proxy.reload({ ...config(), upstream: [{ name: "echo", servers: ["127.0.0.1:1"], balance: "round_robbin" as "round_robin" }] });
} catch (err) {
  refused = err instanceof ConfigError ? { name: err.name, problems: err.problems } : { name: String(err), problems: [] };
}
const afterRefused = await roundTrip(second.port, "still the reloaded config");
await until(() => sessions.length >= 3 && reloads.length >= 2, "three sessions and two reloads");
await until(() => servers.some((c) => c.upstream === "dead" && c.to === "down"), "the dead server going down");

const text = proxy.metrics();
const json = proxy.metrics("json");
// An upgrade in place re-executes the process: not the library's to do to its host program.
const upgradeAnswer = await fetch(\`http://\${proxy.metricsAddress}/api/upgrade\`, { method: "POST", headers: { authorization: \`Bearer \${TOKEN}\` } });
const upgrade = { status: upgradeAnswer.status, body: await upgradeAnswer.json() };

// A second proxy in the same process, with its own Workers and ports.
// Its grace is an hour: only stop({ now: true }) ends the session held below within the test's time.
const other = await startProxy({ ...config([], false), global: { workers: 2, shutdown_grace: "1h" } });
const viaOther = await roundTrip(other.listeners[0]!.port, "another proxy");
// stop({ now: true }): a session still open is ended at once, not after shutdown_grace.
const otherEnds: string[] = [];
other.on("session", (s) => otherEnds.push(s.end));
let heldClosed = false;
await new Promise<void>((resolve) => Bun.connect({ hostname: "127.0.0.1", port: other.listeners[0]!.port, socket: {
  open(s) { s.write("cut"); }, data() { resolve(); }, close() { heldClosed = true; },
} }));
await other.stop({ now: true });
await until(() => heldClosed, "the held socket closed by stop({ now: true })");

// A session still open when stop() begins: it ends during the drain, and is reported before stop resolves.
const held = await new Promise<{ end(): void }>((resolve) => Bun.connect({ hostname: "127.0.0.1", port: front, socket: {
  open(s) { s.write("held"); }, data(s) { resolve(s); },
} }));
const stopping = proxy.stop();
held.end();
await stopping;
const afterStop = await roundTrip(front, "x").then(() => "answered", (err: Error & { code?: string }) => err.code ?? err.message);
echo.stop(true);
console.log(JSON.stringify({
  listeners: proxy.listeners.map((l) => ({ name: l.name, port: l.port })), metricsAddress: proxy.metricsAddress,
  echoed: first === payload, viaSecond, afterRefused, viaOther, otherEnds, heldClosed, afterStop, signalHandlers,
  changes: reloaded.changes, refused, reloads, sessions, servers, upgrade,
  connectionsLine: text.split("\\n").find((l) => l.startsWith('aegis_connections_total{listener="front"}')) ?? null,
  jsonListeners: json.listeners.map((l) => l.name),
  logs: [...new Set(logs)],
}));
`;

/** Another file of the same package, with mistakes that only the types can catch. */
const MISTAKES = `
import { startProxy } from "aegis";
const proxy = await startProxy({
  listener: [{ bind: "127.0.0.1:0", upstrem: "echo" }],
  upstream: [{ name: "echo", servers: ["127.0.0.1:6379"], balance: "round_robbin" }],
});
proxy.on("sesion", () => {});
`;

/** A program compiled into one executable: the Worker is its second entrypoint, named to startProxy. */
const COMPILED = `
import { startProxy } from "aegis";
const echo = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data(s, d) { s.write(d); } } });
const proxy = await startProxy({
  global: { workers: 1 }, metrics: { enabled: false },
  listener: [{ bind: "127.0.0.1:0", upstream: "echo" }], upstream: [{ name: "echo", servers: [\`127.0.0.1:\${echo.port}\`] }],
}, { worker: new URL("./node_modules/aegis/src/worker.ts", import.meta.url) });
const got = await new Promise<string>((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error("no echo within 10 s")), 10_000);
  Bun.connect({ hostname: "127.0.0.1", port: proxy.listeners[0]!.port, socket: {
    open(s) { s.write("compiled"); },
    data(s, d) { clearTimeout(timer); resolve(d.toString()); s.end(); },
  } });
});
await proxy.stop();
echo.stop(true);
console.log("echo: " + got);
`;

let pkg = "";

function check(result: Run, what: string): void {
  if (result.code !== 0) throw new Error(`${what} failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
}

beforeAll(async () => {
  // Fresh declarations, as `bun install` in the repository (prepare) or packing (prepack) emits them.
  check(await run([...TSC, "-p", join(REPO, "tsconfig.lib.json")], { cwd: REPO, timeoutMs: 240_000 }), "emitting the declarations");
  pkg = tempDir("aegis-consumer-");
  writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module", dependencies: { aegis: `file:${REPO}` } }, null, 2));
  writeFileSync(join(pkg, "tsconfig.json"), JSON.stringify({
    compilerOptions: {
      target: "ESNext", module: "ESNext", moduleResolution: "bundler", lib: ["ESNext"], strict: true, noEmit: true,
      // Bun's types from this repository's node_modules, so the check needs no registry.
      types: ["bun-types"], typeRoots: [join(REPO, "node_modules")], skipLibCheck: false,
    },
    include: ["main.ts"],
  }, null, 2));
  writeFileSync(join(pkg, "main.ts"), PROGRAM);
  writeFileSync(join(pkg, "mistakes.ts"), MISTAKES);
  writeFileSync(join(pkg, "compiled.ts"), COMPILED);
  check(await run([process.execPath, "install"], { cwd: pkg, timeoutMs: 120_000 }), "bun install");
}, 400_000);

// The scratch project holds a copy of the package and a compiled program of about 100 MiB.
afterAll(() => {
  if (pkg) rmSync(pkg, { recursive: true, force: true });
});

describe("aegis as a library in another package", () => {
  test("the package is installed with its sources and declarations", () => {
    for (const file of ["package.json", "src/library.ts", "src/worker.ts", "dist/types/library.d.ts", "dist/types/config/input.d.ts"]) {
      expect(existsSync(join(pkg, "node_modules/aegis", file))).toBe(true);
    }
  });

  test("a program starts proxies, relays through them, reloads, reads metrics, gets events and stops", async () => {
    const result = await run([process.execPath, "main.ts"], { cwd: pkg, timeoutMs: 90_000 });
    check(result, "the program");
    // aegis printed nothing of its own: the program's one line is all of stdout.
    const lines = result.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]!);

    expect(out.signalHandlers).toBe(0);
    expect(out.echoed).toBe(true);
    expect(out.metricsAddress).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
    expect(out.listeners.map((l: { name: string }) => l.name)).toEqual(["front", "second"]);
    for (const l of out.listeners) expect(l.port).toBeGreaterThan(0);
    expect(out.viaSecond).toBe("second listener");
    expect(out.changes).toContain("listeners.second: added on 127.0.0.1:0");
    expect(out.servers[0]).toMatchObject({ upstream: "dead", server: "127.0.0.1:1", what: "state", from: "up", to: "down" });

    // A bad config object is refused with the file's messages and key paths; the running one stays.
    expect(out.refused.name).toBe("ConfigError");
    expect(out.refused.problems.join("\n")).toContain(`<library>: upstream[0].balance: "round_robbin" is not a valid value`);
    expect(out.afterRefused).toBe("still the reloaded config");
    expect(out.reloads[0]).toEqual({ ok: true, changes: out.changes });
    expect(out.reloads[1].ok).toBe(false);

    // One event per session, with what the access log knows.
    const [first] = out.sessions;
    expect(first).toMatchObject({ listener: "front", upstream: "echo", server: "echo-1", bytesIn: 2000, bytesOut: 2000, attempts: 1, end: "client_closed" });
    expect(first.client).toMatch(/^127\.0\.0\.1:[1-9]\d*$/);
    expect(first.durationMs).toBeGreaterThan(0);
    // The last one was still open when stop() began.
    expect(out.sessions.map((s: { listener: string }) => s.listener)).toEqual(["front", "second", "second", "front"]);
    expect(out.sessions[3]).toMatchObject({ bytesIn: 4, bytesOut: 4, end: "client_closed" });

    expect(out.connectionsLine).toBe(`aegis_connections_total{listener="front"} 1`); // read before the held one
    expect(out.jsonListeners).toEqual(["front", "second"]);
    expect(out.upgrade.status).toBe(409);
    expect(out.upgrade.body.error).toContain("aegis runs as a library in this program");
    // The logger function got the main thread's records and the Workers' (the access log's "session").
    expect(out.logs).toEqual(expect.arrayContaining(["ready", "session", "reloaded", "stopped"]));

    expect(out.viaOther).toBe("another proxy");
    // (The round trip's own session may end after the listener came: it is client_closed.)
    expect(out.otherEnds.filter((e: string) => e !== "client_closed")).toEqual(["shutdown"]);
    expect(out.heldClosed).toBe(true);
    expect(out.afterStop).toBe("ECONNREFUSED");
  }, 120_000);

  test("the declarations type-check a program, and catch a mistyped key, value or event", async () => {
    check(await run([...TSC, "-p", pkg], { cwd: pkg, timeoutMs: 240_000 }), "tsc on the program");
    writeFileSync(join(pkg, "tsconfig.mistakes.json"), JSON.stringify({ extends: "./tsconfig.json", include: ["mistakes.ts"] }));
    const mistakes = await run([...TSC, "-p", join(pkg, "tsconfig.mistakes.json")], { cwd: pkg, timeoutMs: 240_000 });
    expect(mistakes.code).not.toBe(0);
    expect(mistakes.stdout).toContain("'upstrem' does not exist in type 'ListenerInput'");
    expect(mistakes.stdout).toContain(`"round_robbin"`);
    expect(mistakes.stdout).toContain(`"sesion"`);
  }, 500_000);

  test("a program compiled with bun build --compile runs its proxy from another directory", async () => {
    const binary = join(pkg, "app");
    check(await run([process.execPath, "build", "--compile", "compiled.ts", "node_modules/aegis/src/worker.ts", "--outfile", binary], { cwd: pkg, timeoutMs: 240_000 }), "bun build --compile");
    const result = await run([binary], { cwd: tempDir(), timeoutMs: 60_000 });
    check(result, "the compiled program");
    expect(result.stdout).toBe("echo: compiled\n");
  }, 300_000);
});
