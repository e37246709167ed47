// Reloads and admission: counts carry over (by listener and server name), new limits apply at once.
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { eventually, startAegis, type Aegis } from "./helpers/aegis.ts";
import { startEcho } from "./helpers/backends.ts";
import { connect, type Client } from "./helpers/client.ts";
import { waitFor } from "./helpers/wait.ts";
import { stopAfterEach } from "./helpers/teardown.ts";

let aegis: Aegis | null = null;
const { backends, clients } = stopAfterEach(() => aegis);

const config = (listenerKeys: string, server: string) => `
[global]
workers = 2
log_level = "info"

[metrics]
listen = "127.0.0.1:0"

[[listener]]
name = "main"
bind = "127.0.0.1:0"
upstream = "app"
${listenerKeys}

[[upstream]]
name = "app"
queue_timeout = "5s"
servers = [${server}]
`;

async function reload(a: Aegis, text: string): Promise<void> {
  writeFileSync(String(a.logs.find((l) => l.msg === "ready")!.config), text);
  const seen = a.logs.length;
  a.proc.kill("SIGHUP");
  const line = await a.waitForLog((l) => a.logs.indexOf(l) >= seen && (l.msg === "reloaded" || l.msg === "reload failed, the running configuration stays"), 15_000);
  expect(line.msg).toBe("reloaded");
}

/** Resolves true once the byte came back, false once closed unanswered, null while still waiting after `ms`. */
async function attempt(port: number, ms = 10_000): Promise<{ client: Client; admitted: boolean | null }> {
  const client = await connect(port);
  clients.push(client);
  client.write("x");
  const admitted = await Promise.race([
    client.waitFor((t) => t === "x", ms).then(() => true, () => null),
    client.ended.then(() => false),
  ]);
  return { client, admitted };
}

test("per-IP counts carry over a reload, and the new cap applies at once", async () => {
  const echo = startEcho();
  backends.push(echo);
  aegis = await startAegis(config("max_connections_per_ip = 2", `"${echo.address}"`));
  const held = [await attempt(aegis.port), await attempt(aegis.port)];
  expect(held.map((h) => h.admitted)).toEqual([true, true]);
  expect((await attempt(aegis.port)).admitted).toBe(false);
  await reload(aegis, config("max_connections_per_ip = 3\nallow = [\"127.0.0.0/8\"]", `"${echo.address}"`));
  expect((await attempt(aegis.port)).admitted).toBe(true); // the two held still count: this is the third
  expect((await attempt(aegis.port)).admitted).toBe(false);
  for (const c of clients.splice(0)) c.socket.end();
  await eventually(async () => (await aegis!.metrics()).get("aegis_per_ip_entries") === 0, 10_000, "every count given back");
});

test("a server's place taken before a reload is given back after it, to the same count", async () => {
  const echo = startEcho();
  backends.push(echo);
  aegis = await startAegis(config("", `{ address = "${echo.address}", max_connections = 1 }`));
  const first = await attempt(aegis.port);
  expect(first.admitted).toBe(true);
  await reload(aegis, config("", `{ address = "${echo.address}", max_connections = 2 }`));
  const second = await attempt(aegis.port);
  expect(second.admitted).toBe(true);
  const third = await attempt(aegis.port, 300);
  expect(third.admitted).toBe(null); // queued: the place of the session from before the reload still counts
  // Queued, as aegis says, not just slow to answer on a busy machine.
  await waitFor(async () => (await aegis!.metrics()).get('aegis_connections_queued{listener="main"}') === 1, { what: "the third session queued" });
  first.client.socket.end(); // given back through the old config's gate, to the same shared count
  await third.client.waitFor((t) => t === "x", 10_000);
  expect(echo.open).toBe(2);
});
