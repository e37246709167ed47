import { describe, expect, test } from "bun:test";
import { keepsSocket } from "../../src/config/listener-identity.ts";
import type { ListenerConfig } from "../../src/config/types.ts";

const listener = (name: string, host: string, port: number): ListenerConfig => ({ name, bind: { host, port }, upstream: "u", idleTimeoutMs: 0, bufferLimit: 256 * 1024 });

describe("keepsSocket", () => {
  test("same name, host and port keep the socket, bound or not", () => {
    expect(keepsSocket(listener("a", "127.0.0.1", 8081), 8081, listener("a", "127.0.0.1", 8081))).toBe(true);
    expect(keepsSocket(listener("a", "127.0.0.1", 8081), null, listener("a", "127.0.0.1", 8081))).toBe(true);
  });

  test("another name, host or port binds anew", () => {
    const old = listener("a", "127.0.0.1", 8081);
    expect(keepsSocket(old, 8081, listener("b", "127.0.0.1", 8081))).toBe(false);
    expect(keepsSocket(old, 8081, listener("a", "::1", 8081))).toBe(false);
    expect(keepsSocket(old, 8081, listener("a", "127.0.0.1", 8082))).toBe(false);
  });

  test("port 0 on either side matches the port the kernel gave the old socket", () => {
    expect(keepsSocket(listener("a", "127.0.0.1", 0), 40123, listener("a", "127.0.0.1", 40123))).toBe(true);
    expect(keepsSocket(listener("a", "127.0.0.1", 8081), 8081, listener("a", "127.0.0.1", 0))).toBe(true);
    expect(keepsSocket(listener("a", "127.0.0.1", 0), 40123, listener("a", "127.0.0.1", 0))).toBe(true);
    expect(keepsSocket(listener("a", "127.0.0.1", 0), 40123, listener("a", "127.0.0.1", 40124))).toBe(false);
  });

  test("without a socket, port 0 matches nothing but itself written again", () => {
    expect(keepsSocket(listener("a", "127.0.0.1", 8081), null, listener("a", "127.0.0.1", 0))).toBe(false);
    expect(keepsSocket(listener("a", "127.0.0.1", 0), null, listener("a", "127.0.0.1", 0))).toBe(true);
  });
});
