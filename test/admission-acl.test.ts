// Listener ACLs on real sockets: refusals at accept, before any upstream work, for IPv4 and IPv6.
import { describe, expect, test } from "bun:test";
import { startAegis, type Aegis } from "./helpers/aegis.ts";
import { startEcho, type Backend } from "./helpers/backends.ts";
import { stopAfterEach } from "./helpers/teardown.ts";
import { fromAddresses } from "./admission/fixtures/from-addresses.ts";

let aegis: Aegis | null = null;
const { backends } = stopAfterEach(() => aegis);

function config(echo: Backend, listeners: { name: string; bind: string; keys: string }[]): string {
  return `
[global]
workers = 2
shutdown_grace = "1s"

[metrics]
listen = "127.0.0.1:0"
${listeners.map((l) => `
[[listener]]
name = "${l.name}"
bind = "${l.bind}"
upstream = "app"
${l.keys}
`).join("")}
[[upstream]]
name = "app"
servers = ["${echo.address}"]
`;
}

/** Connect to `host`, send a byte; true when it came back (admitted), false when closed unanswered. */
async function answered(host: string, port: number): Promise<boolean> {
  let got = "";
  let closed!: () => void;
  const done = new Promise<void>((r) => (closed = r));
  const socket = await Bun.connect({
    hostname: host, port,
    socket: { data(_s, d) { got += d.toString(); if (got === "x") closed(); }, close() { closed(); }, error() {} },
  });
  socket.write("x");
  await Promise.race([done, Bun.sleep(10_000)]); // either comes on its own: the echo or aegis's close
  socket.end();
  return got === "x";
}

describe("ACL", () => {
  test("deny refuses at accept with reason acl, logs it, and never reaches the server", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await startAegis(config(echo, [
      { name: "denied", bind: "127.0.0.1:0", keys: `deny = ["127.0.0.0/8"]` },
      { name: "elsewhere", bind: "127.0.0.1:0", keys: `allow = ["10.0.0.0/8", "::1"]` },
      { name: "open", bind: "127.0.0.1:0", keys: `deny = ["10.0.0.0/8"]` },
    ]));
    for (let i = 0; i < 3; i++) expect(await answered("127.0.0.1", aegis.ports.denied!)).toBe(false);
    expect(await answered("127.0.0.1", aegis.ports.elsewhere!)).toBe(false);
    expect(await answered("127.0.0.1", aegis.ports.open!)).toBe(true);
    expect(echo.accepted).toBe(1);
    const m = await aegis.metrics();
    expect(m.get('aegis_connections_rejected_total{listener="denied",reason="acl"}')).toBe(3);
    expect(m.get('aegis_connections_rejected_total{listener="elsewhere",reason="acl"}')).toBe(1);
    expect(m.get('aegis_connections_total{listener="denied"}')).toBe(0);
    const line = await aegis.waitForLog((l) => l.msg === "session" && l.listener === "denied");
    expect(line).toMatchObject({ end: "rejected", reason: "acl" });
    expect(String(line.client)).toStartWith("127.0.0.1:");
  });

  test("deny wins over allow, per source address", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await startAegis(config(echo, [{ name: "main", bind: "127.0.0.1:0", keys: `allow = ["127.0.0.0/8"]\ndeny = ["127.0.5.0/24"]` }]));
    expect(await fromAddresses(aegis.port, "127.0.4.250", 12).result).toEqual({ admitted: 6, refused: 6 }); // .4.250-255 in, .5.0-5 out
    expect(await answered("127.0.0.1", aegis.port)).toBe(true);
  });

  test("IPv6 on ::1, and IPv4 clients of a dual-stack listener match IPv4 rules", async () => {
    const echo = startEcho();
    backends.push(echo);
    aegis = await startAegis(config(echo, [
      { name: "v6-allowed", bind: "[::1]:0", keys: `allow = ["::1"]` },
      { name: "v6-denied", bind: "[::1]:0", keys: `deny = ["::/0"]` },
      { name: "dual", bind: "[::]:0", keys: `deny = ["127.0.0.1"]` },
    ]));
    expect(await answered("::1", aegis.ports["v6-allowed"]!)).toBe(true);
    expect(await answered("::1", aegis.ports["v6-denied"]!)).toBe(false);
    expect(await answered("127.0.0.1", aegis.ports.dual!)).toBe(false); // seen as ::ffff:127.0.0.1
    expect(await answered("::1", aegis.ports.dual!)).toBe(true);
    const m = await aegis.metrics();
    expect(m.get('aegis_connections_rejected_total{listener="v6-denied",reason="acl"}')).toBe(1);
    expect(m.get('aegis_connections_rejected_total{listener="dual",reason="acl"}')).toBe(1);
  });
});
