// A real HAProxy 2.6 in front of the compiled aegis (send-proxy, send-proxy-v2): each client bound
// to its own 127.0.0.x is that client in aegis's access log, its ACL and its routes; an untrusted
// balancer is refused; a SIGHUP that trusts it lets its next connections in.
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { startAegis, tempDir, type Aegis, type LogLine } from "./helpers/aegis.ts";
import { closedPort } from "./helpers/backends.ts";
import { ensureBinary } from "./helpers/build.ts";
import { exchangeFrom, startHaproxy, type Exchange, type Haproxy } from "./helpers/haproxy.ts";
import { startEchoBackend, startGreetingBackend, type TestBackend } from "./helpers/plane.ts";
import { waitFor } from "./helpers/wait.ts";

let aegis: Aegis | null = null;
let haproxy: Haproxy | null = null;
const backends: TestBackend[] = [];
afterEach(async () => {
  await haproxy?.stop();
  haproxy = null;
  await aegis?.stop("SIGKILL");
  aegis = null;
  for (const b of backends.splice(0)) b.stop();
});

const binary = () => ({ command: [ensureBinary()], cwd: tempDir() });
const CLIENTS = [2, 3, 4, 5, 6, 7, 8, 9].map((n) => `127.0.0.${n}`);

/** A client's bytes: its own address, and bytes a PROXY parser would stumble on were they read as a header. */
const payloadOf = (client: string, tag: string) => Buffer.concat([Buffer.from(`PROXY TCP4 ${client} ${tag}\r\n`), Buffer.from([0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0xff])]);

const GLOBAL = `
[global]
workers = 2
log_level = "debug"
shutdown_grace = "1s"

[metrics]
listen = "127.0.0.1:0"
`;

function listener(name: string, upstream: string, extra: string): string {
  return `
[[listener]]
name = "${name}"
bind = "127.0.0.1:0"
upstream = "${upstream}"
${extra}
`;
}

const upstream = (name: string, backend: TestBackend, extra = "") => `
[[upstream]]
name = "${name}"
servers = ["${backend.address}"]
${extra}
`;

/**
 * One HAProxy `listen` section per entry: its port, and the server line to aegis's listener. No
 * retries: HAProxy retries a server that closes at once (as aegis does when it refuses a peer),
 * and each client must be one connection to aegis for the refusals to be counted exactly.
 */
function frontends(entries: { name: string; port: number; aegisPort: number; send: string }[]): string {
  return entries.map((e) => `
listen ${e.name}
    bind 127.0.0.1:${e.port}
    retries 0
    server aegis 127.0.0.1:${e.aegisPort} ${e.send}
`).join("");
}

/** aegis's access log line of the session of `client` (address:port), once written. */
const sessionOf = (a: Aegis, client: string, listenerName: string): Promise<LogLine> =>
  a.waitForLog((l) => l.msg === "session" && l.client === client && l.listener === listenerName);

const rejected = (listenerName: string, reason: string) => `aegis_connections_rejected_total{listener="${listenerName}",reason="${reason}"}`;

/** Wait until /metrics shows `key` at `value` (a Worker's counters reach /metrics on its next tick). */
const metricReaches = (a: Aegis, key: string, value: number) =>
  waitFor(async () => {
    const seen = (await a.metrics()).get(key);
    if (seen !== value) throw new Error(`${key} is ${seen}`); // the failure then says what it was
    return true;
  }, { what: `${key} = ${value}`, timeoutMs: 10_000 });

describe("HAProxy send-proxy in front of aegis", () => {
  test("v1, v2 and any: every client from 127.0.0.2-9 is itself in the access log, and the server gets its bytes only", async () => {
    const echo = startEchoBackend();
    backends.push(echo);
    const trust = `proxy_protocol_from = ["127.0.0.1/32"]`;
    aegis = await startAegis(GLOBAL
      + listener("pp_v1", "app", `proxy_protocol = "v1"\n${trust}`)
      + listener("pp_v2", "app", `proxy_protocol = "v2"\n${trust}`)
      + listener("pp_any", "app", `proxy_protocol = "any"\n${trust}`)
      + upstream("app", echo), binary());
    const routes = [
      { name: "send_v1", port: closedPort(), listener: "pp_v1", send: "send-proxy" },
      { name: "send_v2", port: closedPort(), listener: "pp_v2", send: "send-proxy-v2" },
      { name: "any_v1", port: closedPort(), listener: "pp_any", send: "send-proxy" },
      { name: "any_v2", port: closedPort(), listener: "pp_any", send: "send-proxy-v2 proxy-v2-options crc32c" },
    ];
    haproxy = await startHaproxy(frontends(routes.map((r) => ({ ...r, aegisPort: aegis!.ports[r.listener]! }))));

    const sent: Buffer[] = [];
    for (const route of routes) {
      for (const client of CLIENTS) {
        const data = payloadOf(client, route.name);
        const exchange = await exchangeFrom(client, route.port, data);
        expect(exchange.error).toBeNull();
        expect(Buffer.from(exchange.received)).toEqual(data);
        sent.push(data);
        const line = await sessionOf(aegis, `${client}:${exchange.localPort}`, route.listener);
        expect(line).toMatchObject({ upstream: "app", server: echo.address, bytes_in: data.length, bytes_out: data.length, end: "client_closed" });
        await haproxy.waitForLog(new RegExp(`^client=${client.replaceAll(".", "\\.")}:${exchange.localPort} .*frontend=${route.name} server=${route.name}/aegis `));
      }
    }
    // One server connection per client, in order, each with exactly that client's bytes: no header went on.
    expect(echo.conns.map((c) => c.recorder.received)).toEqual(sent);
    const m = await aegis.metrics();
    for (const name of ["pp_v1", "pp_v2", "pp_any"]) expect(m.get(rejected(name, "proxy_protocol"))).toBe(0);
  });

  test("a header of the version a listener does not accept is refused, and nothing reaches the server", async () => {
    const echo = startEchoBackend();
    backends.push(echo);
    const trust = `proxy_protocol_from = ["127.0.0.1/32"]`;
    aegis = await startAegis(GLOBAL + listener("pp_v1", "app", `proxy_protocol = "v1"\n${trust}`) + listener("pp_v2", "app", `proxy_protocol = "v2"\n${trust}`) + upstream("app", echo), binary());
    const v2ToV1 = closedPort();
    const v1ToV2 = closedPort();
    haproxy = await startHaproxy(frontends([
      { name: "v2_to_v1", port: v2ToV1, aegisPort: aegis.ports.pp_v1!, send: "send-proxy-v2" },
      { name: "v1_to_v2", port: v1ToV2, aegisPort: aegis.ports.pp_v2!, send: "send-proxy" },
    ]));
    for (const [port, name] of [[v2ToV1, "pp_v1"], [v1ToV2, "pp_v2"]] as const) {
      const exchange = await exchangeFrom("127.0.0.7", port, payloadOf("127.0.0.7", name));
      expect(exchange.received.length).toBe(0);
      await metricReaches(aegis, rejected(name, "proxy_protocol"), 1);
    }
    expect(echo.conns.length).toBe(0);
  });

  test("the header's address is what the ACL and the source routes judge: 127.0.0.5 denied, 127.0.0.2-4 routed apart", async () => {
    const near = startGreetingBackend("near\n");
    const far = startGreetingBackend("far\n");
    backends.push(near, far);
    aegis = await startAegis(GLOBAL
      + listener("pp", "far", `proxy_protocol = "any"\nproxy_protocol_from = ["127.0.0.1/32"]\ndeny = ["127.0.0.5/32"]
[[listener.route]]
source = ["127.0.0.2/31", "127.0.0.4"]
upstream = "near"`)
      + upstream("near", near) + upstream("far", far), binary());
    const port = closedPort();
    haproxy = await startHaproxy(frontends([{ name: "front", port, aegisPort: aegis.port, send: "send-proxy-v2" }]));

    const got: Record<string, Exchange> = {};
    for (const client of CLIENTS) got[client] = await exchangeFrom(client, port, Buffer.from(`hi from ${client}\n`));
    const expected = (client: string) => (client === "127.0.0.5" ? "" : `${["127.0.0.2", "127.0.0.3", "127.0.0.4"].includes(client) ? "near" : "far"}\nhi from ${client}\n`);
    expect(Object.fromEntries(CLIENTS.map((c) => [c, Buffer.from(got[c]!.received).toString()]))).toEqual(Object.fromEntries(CLIENTS.map((c) => [c, expected(c)])));

    const denied = await sessionOf(aegis, `127.0.0.5:${got["127.0.0.5"]!.localPort}`, "pp");
    expect(denied).toMatchObject({ end: "rejected", reason: "acl" });
    for (const client of CLIENTS.filter((c) => c !== "127.0.0.5")) {
      const line = await sessionOf(aegis, `${client}:${got[client]!.localPort}`, "pp");
      expect(line).toMatchObject({ upstream: expected(client).startsWith("near") ? "near" : "far", end: "client_closed" });
    }
    await metricReaches(aegis, rejected("pp", "acl"), 1);
    expect((await aegis.metrics()).get(rejected("pp", "proxy_protocol"))).toBe(0);
    expect([near.conns.length, far.conns.length]).toEqual([3, 4]);
  });
});

describe("a balancer aegis does not trust", () => {
  /** aegis trusting 10.0.0.0/8 only, an echo server, and HAProxy (at 127.0.0.1) sending v1 to it. */
  async function untrusted(): Promise<{ echo: TestBackend; port: number }> {
    const echo = startEchoBackend();
    backends.push(echo);
    aegis = await startAegis(GLOBAL + listener("pp", "app", `proxy_protocol = "v1"\nproxy_protocol_from = ["10.0.0.0/8"]`) + upstream("app", echo), binary());
    const port = closedPort();
    haproxy = await startHaproxy(frontends([{ name: "front", port, aegisPort: aegis.port, send: "send-proxy" }]));
    return { echo, port };
  }

  test("HAProxy at 127.0.0.1 is refused (proxy_protocol) for every client, and nothing reaches the server", async () => {
    const { echo, port } = await untrusted();
    for (const client of CLIENTS.slice(0, 5)) {
      const exchange = await exchangeFrom(client, port, payloadOf(client, "untrusted"));
      expect(exchange.received.length).toBe(0);
    }
    await metricReaches(aegis!, rejected("pp", "proxy_protocol"), 5);
    // Refused at accept, before a byte is read: the log names the peer (HAProxy), not a claimed client.
    const refusals = aegis!.logs.filter((l) => l.msg === "session" && l.listener === "pp");
    expect(refusals.length).toBe(5);
    for (const line of refusals) {
      expect(line).toMatchObject({ end: "rejected", reason: "proxy_protocol" });
      expect(String(line.client)).toStartWith("127.0.0.1:");
    }
    expect(echo.conns.length).toBe(0);
    const m = await aegis!.metrics();
    expect(m.get(`aegis_connections_total{listener="pp"}`)).toBe(0);
    expect(m.get(`aegis_upstream_connections_total{upstream="app",server="${echo.address}"}`)).toBe(0);
  });

  test("a SIGHUP that trusts 127.0.0.1/32 lets the next connections in; one back to 10.0.0.0/8 refuses them again", async () => {
    const { echo, port } = await untrusted();
    expect((await exchangeFrom("127.0.0.2", port, payloadOf("127.0.0.2", "before"))).received.length).toBe(0);
    await metricReaches(aegis!, rejected("pp", "proxy_protocol"), 1);

    const path = String(aegis!.logs.find((l) => l.msg === "ready")!.config);
    const reload = async (from: string, nth: number) => {
      writeFileSync(path, readFileSync(path, "utf8").replace(/proxy_protocol_from = \[[^\]]*\]/, `proxy_protocol_from = ["${from}"]`));
      aegis!.proc.kill("SIGHUP");
      await waitFor(() => aegis!.logs.filter((l) => l.msg === "reloaded").length === nth || aegis!.logs.find((l) => String(l.msg).startsWith("reload failed")), { what: `reload ${nth} logged` });
      const line = aegis!.logs.filter((l) => l.msg === "reloaded")[nth - 1];
      expect(line, JSON.stringify(aegis!.logs.slice(-3))).toBeDefined();
      return line!;
    };
    const trusted = await reload("127.0.0.1/32", 1);
    expect(trusted.changes).toEqual([`listeners.pp.proxy_protocol_from: ["10.0.0.0/8"] -> ["127.0.0.1/32"]`]);

    const data = payloadOf("127.0.0.3", "after");
    const exchange = await exchangeFrom("127.0.0.3", port, data);
    expect(Buffer.from(exchange.received)).toEqual(data);
    expect(await sessionOf(aegis!, `127.0.0.3:${exchange.localPort}`, "pp")).toMatchObject({ upstream: "app", end: "client_closed" });
    expect(echo.conns.map((c) => c.recorder.received)).toEqual([data]);

    await reload("10.0.0.0/8", 2);
    expect((await exchangeFrom("127.0.0.4", port, payloadOf("127.0.0.4", "again"))).received.length).toBe(0);
    await metricReaches(aegis!, rejected("pp", "proxy_protocol"), 2);
    expect(echo.conns.length).toBe(1);
  });
});
