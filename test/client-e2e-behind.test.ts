// The compiled aegis sending PROXY headers (send_proxy v1, v2, fresh and pooled sockets) to a real
// HAProxy 2.6 accept-proxy and a real nginx stream proxy_protocol: each logs the client that
// connected to aegis; and a chain HAProxy -> aegis -> HAProxy where the innermost sees the original.
import { afterEach, describe, expect, test } from "bun:test";
import { PROXY_V2_LOCAL } from "../src/net/proxy-protocol.ts";
import { startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { closedPort } from "./helpers/backends.ts";
import { ensureBinary } from "./helpers/build.ts";
import { exchangeFrom, startHaproxy, type Haproxy } from "./helpers/haproxy.ts";
import { startNginx, type Nginx } from "./helpers/nginx.ts";
import { startEchoBackend, type TestBackend } from "./helpers/plane.ts";
import { waitFor } from "./helpers/wait.ts";

let aegis: Aegis | null = null;
const programs: (Haproxy | Nginx)[] = [];
const backends: TestBackend[] = [];
afterEach(async () => {
  await aegis?.stop("SIGKILL");
  aegis = null;
  for (const p of programs.splice(0)) await p.stop();
  for (const b of backends.splice(0)) b.stop();
});

const binary = () => ({ command: [ensureBinary()], cwd: tempDir() });
const WORKERS = 2;
const POOL = 2;
const CLIENTS = [2, 3, 4, 5, 6, 7, 8, 9].map((n) => `127.0.0.${n}`);
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Each way aegis may send: the header version, and whether sessions take pooled sockets. */
const MODES = [
  { name: "v1", send: "v1", pool: 0 },
  { name: "v2", send: "v2", pool: 0 },
  { name: "v1_pool", send: "v1", pool: POOL },
  { name: "v2_pool", send: "v2", pool: POOL },
] as const;

/** One plain listener per mode, each to its own upstream: the server at `ports[i]`, with that mode's send_proxy and pool. */
function aegisConfig(ports: number[], extra = ""): string {
  return `
[global]
workers = ${WORKERS}
log_level = "debug"
shutdown_grace = "1s"

[metrics]
listen = "127.0.0.1:0"
${MODES.map((m, i) => `
[[listener]]
name = "${m.name}"
bind = "127.0.0.1:0"
upstream = "${m.name}"

[[upstream]]
name = "${m.name}"
servers = ["127.0.0.1:${ports[i]}"]
send_proxy = "${m.send}"
pool = ${m.pool}
# Long enough that a slow start of the programs around it does not leave the pool dormant (empty
# until a session comes) while the test waits for it to be full; below HAProxy's timeout client (30s).
pool_max_idle = "20s"
${extra}
`).join("")}`;
}

const serverKey = (family: string, upstream: string, port: number) => `${family}{upstream="${upstream}",server="127.0.0.1:${port}"}`;

/** Every pooled upstream has its full pool idle in every Worker, so the next session takes a pooled socket. */
async function poolsFull(a: Aegis, ports: number[]): Promise<void> {
  await waitFor(async () => {
    const m = await a.metrics();
    return MODES.every((mode, i) => mode.pool === 0 || m.get(serverKey("aegis_upstream_pool_idle", mode.name, ports[i]!)) === WORKERS * POOL);
  }, { what: "every pool full in every Worker" });
}

/**
 * Send each client's bytes through each mode's listener, from the client's own 127.0.0.x; `logged`
 * waits for the server program's log line of that client. Then: the fresh-connect modes connected
 * once per session, the pooled ones never (every session took a pooled socket, header and all).
 */
async function throughEveryMode(ports: number[], logged: (mode: string, port: number, client: string, localPort: number, bytes: number) => Promise<void>): Promise<void> {
  const a = aegis!;
  for (const [i, mode] of MODES.entries()) {
    for (const client of CLIENTS) {
      if (mode.pool > 0) await poolsFull(a, ports);
      const data = Buffer.from(`${client} through ${mode.name}\n`);
      const exchange = await exchangeFrom(client, a.ports[mode.name]!, data);
      expect(exchange.error).toBeNull();
      expect(Buffer.from(exchange.received)).toEqual(data);
      await logged(mode.name, ports[i]!, client, exchange.localPort, data.length);
      const line = await a.waitForLog((l) => l.msg === "session" && l.client === `${client}:${exchange.localPort}`);
      expect(line).toMatchObject({ listener: mode.name, bytes_in: data.length, bytes_out: data.length, end: "client_closed" });
      if (mode.pool > 0) expect(line.connect_ms).toBe(0);
    }
  }
  const m = await a.metrics();
  for (const [i, mode] of MODES.entries()) {
    const connects = m.get(serverKey("aegis_upstream_connect_duration_seconds_count", mode.name, ports[i]!));
    expect({ mode: mode.name, sessions: m.get(serverKey("aegis_upstream_connections_total", mode.name, ports[i]!)), connects })
      .toEqual({ mode: mode.name, sessions: CLIENTS.length, connects: mode.pool > 0 ? 0 : CLIENTS.length });
  }
}

describe("send_proxy to the programs that accept it", () => {
  test("HAProxy accept-proxy logs each client's own 127.0.0.x and port, v1 and v2, fresh and pooled", async () => {
    const echo = startEchoBackend();
    backends.push(echo);
    const ports = MODES.map(() => closedPort());
    const haproxy = await startHaproxy(MODES.map((m, i) => `
listen accept_${m.name}
    bind 127.0.0.1:${ports[i]} accept-proxy
    server echo ${echo.address}
`).join(""));
    programs.push(haproxy);
    aegis = await startAegis(aegisConfig(ports), binary());
    await throughEveryMode(ports, async (mode, _port, client, localPort, bytes) => {
      const line = await haproxy.waitForLog(new RegExp(`^client=${escape(client)}:${localPort} peer=127\\.0\\.0\\.1:\\d+ frontend=accept_${mode} `));
      expect(line).toContain(` bytes_in=${bytes} bytes_out=${bytes} `);
    });
    // HAProxy relayed exactly the clients' bytes: the header stopped at HAProxy.
    expect(echo.conns.map((c) => c.recorder.received.toString())).toEqual(MODES.flatMap((m) => CLIENTS.map((c) => `${c} through ${m.name}\n`)));
  });

  test("nginx stream listen ... proxy_protocol logs each client as $proxy_protocol_addr, v1 and v2, fresh and pooled", async () => {
    const echo = startEchoBackend();
    backends.push(echo);
    const ports = MODES.map(() => closedPort());
    const nginx = await startNginx(MODES.map((_m, i) => `
server {
    listen 127.0.0.1:${ports[i]} proxy_protocol;
    proxy_pass ${echo.address};
    proxy_half_close on;
}`).join("\n"));
    programs.push(nginx);
    aegis = await startAegis(aegisConfig(ports), binary());
    await throughEveryMode(ports, async (_mode, port, client, localPort, bytes) => {
      const line = await nginx.waitForLog(new RegExp(`^remote=127\\.0\\.0\\.1:\\d+ proxy=${escape(client)}:${localPort} server_port=${port} `));
      expect(line).toContain(` bytes_in=${bytes} bytes_out=${bytes} status=200`);
    });
    expect(nginx.errors()).not.toContain("broken header");
  });
});

describe("what a header in front said goes on", () => {
  test("an IPv6 client named by a v1 header, and a LOCAL header's peer, reach HAProxy and nginx as themselves, v1 and v2", async () => {
    const echo = startEchoBackend();
    backends.push(echo);
    const targets = [
      { name: "haproxy_v1", send: "v1", port: closedPort() }, { name: "haproxy_v2", send: "v2", port: closedPort() },
      { name: "nginx_v1", send: "v1", port: closedPort() }, { name: "nginx_v2", send: "v2", port: closedPort() },
    ];
    const [h1, h2, n1, n2] = targets;
    const haproxy = await startHaproxy([h1!, h2!].map((t) => `\nlisten ${t.name}\n    bind 127.0.0.1:${t.port} accept-proxy\n    server echo ${echo.address}\n`).join(""));
    programs.push(haproxy);
    const nginx = await startNginx([n1!, n2!].map((t) => `server {\n    listen 127.0.0.1:${t.port} proxy_protocol;\n    proxy_pass ${echo.address};\n    proxy_half_close on;\n}`).join("\n"));
    programs.push(nginx);
    aegis = await startAegis(`[global]\nworkers = ${WORKERS}\n\n[metrics]\nlisten = "127.0.0.1:0"\n${targets.map((t) => `
[[listener]]
name = "${t.name}"
bind = "127.0.0.1:0"
upstream = "${t.name}"
proxy_protocol = "any"
proxy_protocol_from = ["127.0.0.0/29"]

[[upstream]]
name = "${t.name}"
servers = ["127.0.0.1:${t.port}"]
send_proxy = "${t.send}"
`).join("")}`, binary());
    for (const t of targets) {
      const v6 = await exchangeFrom("127.0.0.1", aegis.ports[t.name]!, Buffer.from("PROXY TCP6 2001:db8::7 2001:db8::1 4444 443\r\nsix\n"));
      expect(Buffer.from(v6.received).toString()).toBe("six\n");
      // A balancer's own check (LOCAL): the peer, a trusted 127.0.0.3, stays the client and is what goes on.
      const local = await exchangeFrom("127.0.0.3", aegis.ports[t.name]!, Buffer.concat([PROXY_V2_LOCAL, Buffer.from("local\n")]));
      expect(Buffer.from(local.received).toString()).toBe("local\n");
      if (t.name.startsWith("haproxy")) {
        await haproxy.waitForLog(new RegExp(`^client=2001:db8::7:4444 peer=127\\.0\\.0\\.1:\\d+ frontend=${t.name} `));
        await haproxy.waitForLog(new RegExp(`^client=127\\.0\\.0\\.3:${local.localPort} peer=127\\.0\\.0\\.1:\\d+ frontend=${t.name} `));
      } else {
        await nginx.waitForLog(new RegExp(`^remote=127\\.0\\.0\\.1:\\d+ proxy=2001:db8::7:4444 server_port=${t.port} `));
        await nginx.waitForLog(new RegExp(`^remote=127\\.0\\.0\\.1:\\d+ proxy=127\\.0\\.0\\.3:${local.localPort} server_port=${t.port} `));
      }
    }
  });
});

describe("a chain of balancers", () => {
  test("HAProxy send-proxy-v2 -> aegis (accepts v2, sends v2 from its pool) -> HAProxy accept-proxy: the innermost logs the original client and HAProxy's unique ID", async () => {
    const echo = startEchoBackend();
    backends.push(echo);
    const innerPort = closedPort();
    const outerPort = closedPort();
    const inner = await startHaproxy(`
listen inner
    bind 127.0.0.1:${innerPort} accept-proxy
    server echo ${echo.address}
`);
    programs.push(inner);
    aegis = await startAegis(`
[global]
workers = ${WORKERS}
log_level = "debug"

[metrics]
listen = "127.0.0.1:0"

[[listener]]
name = "middle"
bind = "127.0.0.1:0"
upstream = "inner"
proxy_protocol = "v2"
proxy_protocol_from = ["127.0.0.1/32"]

[[upstream]]
name = "inner"
servers = ["127.0.0.1:${innerPort}"]
send_proxy = "v2"
pool = ${POOL}
pool_max_idle = "20s" # see above: a pool idle past it empties until a session comes
`, binary());
    // The unique ID (TLV 0x05) the outer HAProxy makes of its client goes through aegis untouched.
    const outer = await startHaproxy(`
listen outer
    bind 127.0.0.1:${outerPort}
    unique-id-format %{+X}o%ci:%cp_%Ts
    server aegis 127.0.0.1:${aegis.port} send-proxy-v2 proxy-v2-options unique-id,crc32c
`);
    programs.push(outer);
    const idle = serverKey("aegis_upstream_pool_idle", "inner", innerPort);
    for (const client of CLIENTS) {
      await waitFor(async () => (await aegis!.metrics()).get(idle) === WORKERS * POOL, { what: "the pool full in every Worker" });
      const data = Buffer.from(`${client} through the chain\n`);
      const exchange = await exchangeFrom(client, outerPort, data);
      expect(Buffer.from(exchange.received)).toEqual(data);
      const who = `client=${escape(client)}:${exchange.localPort} `;
      const outerLine = await outer.waitForLog(new RegExp(`^${who}`));
      const id = / id=(\S+) /.exec(outerLine)?.[1];
      expect(id).toStartWith(`7F0000${Number(client.split(".")[3]).toString(16).toUpperCase().padStart(2, "0")}:`);
      const innerLine = await inner.waitForLog(new RegExp(`^${who}peer=127\\.0\\.0\\.1:\\d+ frontend=inner `));
      expect(innerLine).toContain(` bytes_in=${data.length} `);
      expect(innerLine).toContain(` unique_id=${id}`);
      const line = await aegis.waitForLog((l) => l.msg === "session" && l.client === `${client}:${exchange.localPort}`);
      expect(line).toMatchObject({ listener: "middle", upstream: "inner", connect_ms: 0, end: "client_closed" });
    }
    expect((await aegis.metrics()).get(serverKey("aegis_upstream_connect_duration_seconds_count", "inner", innerPort))).toBe(0);
  });
});
