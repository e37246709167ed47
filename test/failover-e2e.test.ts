// Redis failover through the compiled binary: two real redis-servers, one a replica of the other,
// behind `health = { check = "redis", role = "primary" }` and on_down = "close_sessions". Every new
// session goes to the primary; when the replica is promoted and the old primary demoted, new
// sessions follow within the checks, and sessions still on the old primary are reset so their
// clients reconnect. The same with requirepass (AUTH from password_file). Checks every second with
// fall = 2: one slow check on a busy machine must not take the primary down mid-test.
import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import { startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { ensureBinary } from "./helpers/build.ts";
import { startRedis, type Redis } from "./helpers/redis.ts";
import { connect, type Client } from "./helpers/client.ts";
import { waitFor } from "./helpers/wait.ts";

let aegis: Aegis | null = null;
let cleanups: (() => void)[] = [];
afterEach(async () => {
  await aegis?.stop("SIGKILL");
  aegis = null;
  for (const c of cleanups.reverse()) c();
  cleanups = [];
});

/** A redis-server, optionally a replica of `replicaOf`; killed after the test. */
async function startRedisNode(password: string | null, replicaOf?: number): Promise<Redis> {
  const r = await startRedis({ ...(password ? { password } : {}), args: replicaOf ? ["--replicaof", "127.0.0.1", String(replicaOf)] : [] });
  cleanups.push(() => r.stop());
  return r;
}

/** Which server a session reached: its port, from CONFIG GET port (inline commands, as redis-cli would send). */
async function whichPort(c: Client, password: string | null, marker: string): Promise<number> {
  if (password) c.write(`AUTH ${password}\r\n`);
  c.write(`CONFIG GET port\r\nECHO ${marker}\r\n`);
  const text = await c.waitFor((t) => t.includes(`${marker}\r\n`), 10_000);
  const m = /\$4\r\nport\r\n\$\d+\r\n(\d+)\r\n/.exec(text);
  if (!m) throw new Error(`no port in ${JSON.stringify(text)}`);
  return Number(m[1]);
}

async function newSessionPort(port: number, password: string | null, marker: string): Promise<number> {
  const c = await connect(port);
  try {
    return await whichPort(c, password, marker);
  } finally {
    c.socket.end();
  }
}

async function failover(password: string | null): Promise<void> {
  const r1 = await startRedisNode(password);
  const r2 = await startRedisNode(password, r1.port);
  const [first, second] = [r1.port, r2.port];
  await waitFor(async () => (await r2.cli("INFO", "replication")).stdout.includes("master_link_status:up"), { what: "the replica in sync", timeoutMs: 20_000 });
  const dir = tempDir();
  const auth = password ? `, password_file = "${join(dir, "redis.pass")}"` : "";
  if (password) writeFileSync(join(dir, "redis.pass"), `${password}\n`);
  const toml = `
[global]
workers = 2
log_level = "info"
shutdown_grace = "5s"
[metrics]
listen = "127.0.0.1:0"
[[listener]]
name = "redis"
bind = "127.0.0.1:0"
upstream = "redis"
[[upstream]]
name = "redis"
on_down = "close_sessions"
servers = [{ name = "r1", address = "127.0.0.1:${first}" }, { name = "r2", address = "127.0.0.1:${second}" }]
health = { check = "redis", role = "primary"${auth}, interval = "1s", timeout = "1s", rise = 1, fall = 2 }
`;
  writeFileSync(join(dir, "aegis.toml"), toml);
  aegis = await startAegis(toml, { command: [ensureBinary()], cwd: dir });
  const a = aegis;
  await a.waitForLog((l) => l.msg === "server state" && l.server === "r2" && l.to === "down", 20_000);

  // Before: every new session reaches the primary (r1).
  for (let i = 0; i < 6; i++) expect(await newSessionPort(a.port, password, `before-${i}`)).toBe(first);
  const old = await connect(a.port);
  expect(await whichPort(old, password, "old")).toBe(first);

  // Promote r2, demote r1.
  expect((await r2.cli("REPLICAOF", "NO", "ONE")).stdout.trim()).toBe("OK");
  expect((await r1.cli("REPLICAOF", "127.0.0.1", String(second))).stdout.trim()).toBe("OK");

  // r1 fails its role check and is down: its sessions are reset; r2 passes and is up.
  await a.waitForLog((l) => l.msg === "server state" && l.server === "r1" && l.to === "down", 20_000);
  expect(((await old.closed) as NodeJS.ErrnoException | undefined)?.code).toBe("ECONNRESET"); // reset, not a FIN
  await a.waitForLog((l) => l.msg === "session" && l.end === "server_down" && l.server === "r1", 20_000);
  await a.waitForLog((l) => l.msg === "server state" && l.server === "r2" && l.to === "up", 20_000);
  for (let i = 0; i < 6; i++) expect(await newSessionPort(a.port, password, `after-${i}`)).toBe(second);
}

describe("redis failover", () => {
  test("sessions follow the primary; the old primary's are reset", async () => {
    await failover(null);
  }, 90_000);

  test("the same with requirepass: AUTH from password_file", async () => {
    await failover("s3cret-failover");
  }, 90_000);
});
