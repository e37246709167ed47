// assertPortsFree on real sockets: a port another listener holds is refused, with or without SO_REUSEPORT.
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import type { ListenerConfig } from "../../src/config/types.ts";
import { assertPortsFree } from "../../src/control/port-probe.ts";
import { listenShared } from "../../src/data/listen.ts";

function listeners(binds: string[]): ListenerConfig[] {
  return parseConfig(
    binds.map((bind, i) => `[[listener]]\nname = "l${i}"\nbind = "${bind}"\nupstream = "app"\n`).join("\n") + `[[upstream]]\nname = "app"\nservers = ["127.0.0.1:1"]\n`,
    "port-probe-test.toml",
  ).listeners;
}

describe("assertPortsFree", () => {
  test("a port held by another listener is refused, naming the listener and the address", () => {
    using held = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    expect(() => assertPortsFree(listeners([`127.0.0.1:${held.port}`]))).toThrow(
      `listener l0: cannot listen on 127.0.0.1:${held.port}: address already in use (another aegis or another program serves it)`,
    );
  });

  test("a port held with SO_REUSEPORT (another aegis's Workers) is refused too", () => {
    using held = listenShared({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    expect(() => assertPortsFree(listeners([`127.0.0.1:${held.port}`]))).toThrow(/address already in use/);
  });

  test("the first taken listener is named, after free ones; port 0 is never probed", () => {
    using held = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    expect(() => assertPortsFree(listeners(["127.0.0.1:0", `127.0.0.1:${held.port}`]))).toThrow(/^listener l1: /);
  });

  test("free ports pass, and the probe leaves them free", () => {
    const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = probe.port;
    probe.stop(true);
    expect(() => assertPortsFree(listeners([`127.0.0.1:${port}`, "127.0.0.1:0"]))).not.toThrow();
    // Bound and closed again: the port can be listened on right after.
    using again = Bun.listen({ hostname: "127.0.0.1", port, socket: { data() {} } });
    expect(again.port).toBe(port);
  });
});
