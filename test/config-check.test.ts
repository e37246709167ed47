// `aegis check` on the compiled binary: a file with many mistakes gets every one, each at its line, in file order.
import { beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "./helpers/aegis.ts";
import { ensureBinary, run } from "./helpers/build.ts";

let binary = "";
beforeAll(() => {
  binary = ensureBinary();
}, 180_000);

const BROKEN = `[global]
shutdown_grace = 30

[[listener]]
bind = "127.0.0.1:0"
upstream = "redis"
idle_timeout = "10"

[[upstream]]
name = "redis"
servers = [
  "127.0.0.1:6379:1",
  "127.0.0.1:6380",
  "127.0.0.1:6380",
]
health = { interval = "2", send = "PING\\r\\n", send_hex = "50494e470d0a" }
`;

test("every problem, with file:line:column, in the order of the file, on stderr; exit 2", async () => {
  const dir = tempDir();
  writeFileSync(join(dir, "broken.toml"), BROKEN);
  const r = await run([binary, "check", "--config", "broken.toml"], { cwd: dir, timeoutMs: 30_000 });
  expect(r.code).toBe(2);
  expect(r.stdout).toBe("");
  expect(r.stderr.trimEnd().split("\n")).toEqual([
    "aegis: invalid config",
    `broken.toml:2:1: global.shutdown_grace: 30 has no unit (write it as a string with a unit, e.g. "30s" or "30ms")`,
    `broken.toml:7:1: listener[0].idle_timeout: "10" has no unit (write e.g. "10s" or "10ms")`,
    `broken.toml:12:3: upstream[0].servers[0]: "127.0.0.1:6379:1" has ":1" after its port (a server is host:port; to give it a weight, write { address = "127.0.0.1:6379", weight = 1 })`,
    `broken.toml:14:3: upstream[0].servers[2]: "127.0.0.1:6380" is listed twice (also servers[1])`,
    `broken.toml:16:1: upstream[0].health: give send or send_hex, not both`,
    `broken.toml:16:12: upstream[0].health.interval: "2" has no unit (write e.g. "2s" or "2ms")`,
  ]);
}, 60_000);

test("the same report when the binary is started with the file, before it listens", async () => {
  const dir = tempDir();
  writeFileSync(join(dir, "broken.toml"), BROKEN);
  const checked = await run([binary, "check", "--config", "broken.toml"], { cwd: dir, timeoutMs: 30_000 });
  const started = await run([binary, "--config", "broken.toml"], { cwd: dir, timeoutMs: 30_000 });
  expect(started.code).toBe(2);
  expect(started.stdout).not.toContain('"ready"');
  expect(started.stderr).toBe(checked.stderr);
}, 60_000);
