// A reload names every setting it changes: the compiled binary, SIGHUP, and its "reloaded" log line.
import { beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { startEcho } from "./helpers/backends.ts";
import { ensureBinary } from "./helpers/build.ts";
import { stopAfterEach } from "./helpers/teardown.ts";

let aegis: Aegis | null = null;
const { backends } = stopAfterEach(() => aegis);
let binary = "";
beforeAll(() => {
  binary = ensureBinary();
}, 180_000);

const config = (o: { grace: string; level: string; idle: string; deny: string; balance: string; retries: number; servers: string[]; health: string }) => `
[global]
workers = 1
shutdown_grace = "${o.grace}"
log_level = "${o.level}"
access_log = false

[metrics]
listen = "127.0.0.1:0"

[[listener]]
name = "redis"
bind = "127.0.0.1:0"
upstream = "pg"
idle_timeout = "${o.idle}"
deny = [${o.deny}]

[[upstream]]
name = "pg"
balance = "${o.balance}"
retries = ${o.retries}
servers = [${o.servers.map((s) => JSON.stringify(s)).join(", ")}]
health = { ${o.health} }
`;

test("a SIGHUP that changes eight settings logs each by its key path, with old and new values", async () => {
  const a = startEcho({ greeting: "a\n" });
  const b = startEcho({ greeting: "b\n" });
  backends.push(a, b);
  const before = { grace: "30s", level: "info", idle: "10m", deny: "", balance: "round_robin", retries: 2, servers: [a.address], health: `interval = "2s"` };
  aegis = await startAegis(config(before), { command: [binary], cwd: tempDir() });
  const path = String(aegis.logs.find((l) => l.msg === "ready")!.config);
  const after = { grace: "10s", level: "debug", idle: "5s", deny: `"10.0.0.0/8"`, balance: "least_conn", retries: 4, servers: [a.address, b.address], health: `interval = "3s"` };
  writeFileSync(path, config(after));
  const seen = aegis.logs.length;
  aegis.proc.kill("SIGHUP");
  const line = await aegis.waitForLog((l) => aegis!.logs.indexOf(l) >= seen && (l.msg === "reloaded" || String(l.msg).startsWith("reload failed")), 20_000);
  expect(line.msg, JSON.stringify(line)).toBe("reloaded");
  expect(line.changes).toEqual([
    "listeners.redis.idle_timeout: 10m -> 5s",
    `listeners.redis.deny: [] -> ["10.0.0.0/8"]`,
    `upstreams.pg.servers (+1 -0): added ${b.address}`,
    `upstreams.pg.balance: "round_robin" -> "least_conn"`,
    "upstreams.pg.retries: 2 -> 4",
    "upstreams.pg.health.interval: 2s -> 3s",
    "global.shutdown_grace: 30s -> 10s",
    `global.log_level: "info" -> "debug"`,
  ]);
}, 60_000);
