// ackNow: TCP_QUICKACK by setsockopt through bun:ffi, on a real connection's descriptor.
import { expect, test } from "bun:test";
import { ackNow } from "../../src/os/quickack.ts";
import { within } from "../helpers/wait.ts";

test("the kernel takes it on an open TCP socket; a closed or missing descriptor is refused without throwing", async () => {
  let server: { fd?: number } | null = null;
  let opened!: () => void;
  const open = new Promise<void>((r) => (opened = r));
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open(s) { server = s as unknown as { fd?: number }; opened(); }, data() {} } });
  const client = await Bun.connect({ hostname: "127.0.0.1", port: listener.port, socket: { data() {} } });
  await within(open, 10_000, "the server side accepted");
  expect(typeof server!.fd).toBe("number");
  expect(ackNow(server!.fd)).toBe(true);
  expect(ackNow((client as unknown as { fd?: number }).fd)).toBe(true);
  expect(ackNow(-1)).toBe(false);
  expect(ackNow(undefined)).toBe(false);
  client.end();
  listener.stop(true);
});
