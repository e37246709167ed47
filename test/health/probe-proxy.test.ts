// Active checks of an upstream with send_proxy: a LOCAL header first, so servers that require one (HAProxy accept-proxy) pass.
import { afterAll, describe, expect, test } from "bun:test";
import type { Socket } from "bun";
import { compileProbe, runProbe } from "../../src/health/probe.ts";
import { parseProxyHeader, PROXY_V2_LOCAL } from "../../src/net/proxy-protocol.ts";

/** A server that, like one behind accept-proxy, closes any connection not starting with a PROXY header, then answers PING. */
const seen: string[] = [];
const server = Bun.listen<{ bytes: Buffer }>({
  hostname: "127.0.0.1",
  port: 0,
  socket: {
    open(s) { s.data = { bytes: Buffer.alloc(0) }; },
    data(s: Socket<{ bytes: Buffer }>, data) {
      s.data.bytes = Buffer.concat([s.data.bytes, data]);
      const parsed = parseProxyHeader(s.data.bytes, "any");
      if (parsed.status === "pending") return;
      if (parsed.status === "invalid") return void s.end();
      seen.push(parsed.header.command);
      if (s.data.bytes.subarray(parsed.header.length).toString() === "PING\r\n") s.write("+PONG\r\n");
    },
  },
});
afterAll(() => server.stop(true));

const check = { intervalMs: 1000, timeoutMs: 2000, rise: 1, fall: 1, sendHex: Buffer.from("PING\r\n").toString("hex"), expect: { kind: "bytes" as const, hex: Buffer.from("+PONG").toString("hex") } };
const address = { host: "127.0.0.1", port: server.port };

describe("health checks with send_proxy", () => {
  test("without the header such a server fails the check", async () => {
    expect((await runProbe(address, compileProbe(check), 2000)).ok).toBe(false);
  });

  test("v2 sends a LOCAL header first and v1 PROXY UNKNOWN; both pass", async () => {
    const v2 = compileProbe(check, 2);
    expect(Buffer.from(v2.send!).subarray(0, PROXY_V2_LOCAL.length)).toEqual(Buffer.from(PROXY_V2_LOCAL));
    expect((await runProbe(address, v2, 2000)).ok).toBe(true);
    expect((await runProbe(address, compileProbe(check, 1), 2000)).ok).toBe(true);
    expect(seen).toEqual(["local", "local"]);
  });

  test("a connect-only check sends the header alone", () => {
    const probe = compileProbe({ ...check, sendHex: null, expect: null }, 1);
    expect(Buffer.from(probe.send!).toString()).toBe("PROXY UNKNOWN\r\n");
  });
});
