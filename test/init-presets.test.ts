// The health-check presets of `aegis init`, as written to the file, run by aegis's own probe against
// servers that speak each protocol (and fail against a server that does not).
import { afterEach, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { parseConfig } from "../src/config/load.ts";
import type { HealthCheckConfig } from "../src/config/types.ts";
import type { InitAnswers } from "../src/cli/init/answers.ts";
import { HEALTH_PRESETS } from "../src/cli/init/health-presets.ts";
import { renderConfig } from "../src/cli/init/render.ts";
import { compileProbe, runProbe } from "../src/health/probe.ts";
import { startScripted, type Backend } from "./helpers/backends.ts";

type Preset = keyof typeof HEALTH_PRESETS;

const servers: Backend[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.stop();
});

/** The health check `aegis init` writes for `preset`, read back by the real loader. */
function writtenCheck(preset: Preset): HealthCheckConfig {
  const answers: InitAnswers = { listen: "127.0.0.1:0", servers: ["127.0.0.1:1"], balance: "round_robin", health: preset, metrics: null, service: false, output: "a.toml" };
  const { text } = renderConfig(answers, { version: "0", date: "2026-01-01" });
  return parseConfig(text, "a.toml").upstreams[0]!.health!;
}

/** A MySQL 8 initial handshake packet: length, sequence 0, protocol 10, version, salt, capabilities, plugin. */
function mysqlGreeting(): Buffer {
  const payload = Buffer.concat([
    Buffer.from([0x0a]), Buffer.from("8.0.36\0"), Buffer.from([0x08, 0, 0, 0]), randomBytes(8), Buffer.from([0]),
    Buffer.from([0xff, 0xff, 0xff, 0x02, 0x00, 0xff, 0xdf, 0x15]), Buffer.alloc(10), randomBytes(12), Buffer.from([0]),
    Buffer.from("caching_sha2_password\0"),
  ]);
  const header = Buffer.from([payload.length & 0xff, (payload.length >> 8) & 0xff, payload.length >> 16, 0]);
  return Buffer.concat([header, payload]);
}

const speakers: Record<Preset, () => Backend> = {
  tcp: () => startScripted({}),
  redis: () => startScripted({ data: (s, d) => void (d.toString() === "*1\r\n$4\r\nPING\r\n" && s.write("+PONG\r\n")) }),
  // A StartupMessage (protocol 3.0) gets AuthenticationCleartextPassword, as a password-protected server answers.
  postgresql: () => startScripted({ data: (s, d) => void (d.readInt32BE(4) === 196608 && s.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 3]))) }),
  mysql: () => startScripted({ open: (s) => void s.write(mysqlGreeting()) }),
  http: () => startScripted({ data: (s, d) => void (d.toString().startsWith("GET / HTTP/1.1\r\n") && s.write("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")) }),
};

/** A server that accepts and answers something else entirely. */
const stranger = () => startScripted({ open: (s) => void s.write("220 smtp.example.com ESMTP\r\n") });

describe("each preset passes against its protocol and fails against another", () => {
  test.each(Object.keys(HEALTH_PRESETS) as Preset[])("%s", async (preset) => {
    const check = writtenCheck(preset);
    const probe = compileProbe(check);
    const good = speakers[preset]();
    servers.push(good);
    const ok = await runProbe({ host: "127.0.0.1", port: good.port }, probe, 2_000);
    expect(ok.reason).toBe("");
    expect(ok.ok).toBe(true);
    if (preset === "tcp") return; // a connect check cannot tell protocols apart
    const other = stranger();
    servers.push(other);
    const bad = await runProbe({ host: "127.0.0.1", port: other.port }, probe, 500);
    expect(bad.ok).toBe(false);
  });

  test("the MySQL check waits for the whole greeting, however it is split, and then passes", () => {
    const probe = compileProbe(writtenCheck("mysql"));
    const g = mysqlGreeting();
    for (let cut = 0; cut < g.length; cut++) expect(probe.judge(g.subarray(0, cut), false), String(cut)).toBeNull();
    expect(probe.judge(g, false)).toEqual({ ok: true });
    expect(probe.judge(g.subarray(0, 10), true)).toMatchObject({ ok: false });
  });
});
