// Per-client-address limits on real sockets: the cap and the rate, exact across Workers, and a flood of addresses.
import { describe, expect, test } from "bun:test";
import { eventually, simpleConfig, startAegis, type Aegis } from "./helpers/aegis.ts";
import { startEcho } from "./helpers/backends.ts";
import { connect, type Client } from "./helpers/client.ts";
import { waitFor } from "./helpers/wait.ts";
import { stopAfterEach } from "./helpers/teardown.ts";
import { fromAddresses } from "./admission/fixtures/from-addresses.ts";

let aegis: Aegis | null = null;
const { backends, clients } = stopAfterEach(() => aegis);

async function start(listenerKeys: string): Promise<Aegis> {
  const echo = startEcho();
  backends.push(echo);
  return (aegis = await startAegis(simpleConfig([echo.address], { workers: 2, logLevel: "info", listener: listenerKeys })));
}

/** A client from 127.0.0.1 that sent a byte: resolves true once echoed (admitted), false once closed unanswered. */
async function attempt(port: number): Promise<{ client: Client; admitted: boolean }> {
  const client = await connect(port);
  clients.push(client);
  client.write("x");
  const admitted = await Promise.race([client.waitFor((t) => t === "x", 10_000).then(() => true), client.ended.then(() => false)]);
  return { client, admitted };
}

const rejected = async (reason: string) => (await aegis!.metrics()).get(`aegis_connections_rejected_total{listener="main",reason="${reason}"}`) ?? 0;

describe("max_connections_per_ip", () => {
  test("exact across Workers: the excess is refused and counted, and a closed connection makes room", async () => {
    await start("max_connections_per_ip = 3");
    const held = [];
    for (let i = 0; i < 3; i++) {
      const a = await attempt(aegis!.port);
      expect(a.admitted).toBe(true);
      held.push(a.client);
    }
    for (let i = 0; i < 4; i++) expect((await attempt(aegis!.port)).admitted).toBe(false);
    expect(await rejected("per_ip_limit")).toBe(4);
    const line = await aegis!.waitForLog((l) => l.msg === "session" && l.reason === "per_ip_limit");
    expect(line.end).toBe("rejected");

    held[0]!.socket.end();
    await held[0]!.closed;
    await eventually(async () => (await aegis!.metrics()).get('aegis_connections_active{listener="main"}') === 2, 10_000, "one connection gone");
    expect((await attempt(aegis!.port)).admitted).toBe(true);
    expect((await attempt(aegis!.port)).admitted).toBe(false);
  });

  test("each address has its own count", async () => {
    await start("max_connections_per_ip = 1");
    const others = fromAddresses(aegis!.port, "127.3.0.1", 20, true);
    expect(await others.result).toEqual({ admitted: 20, refused: 0 });
    expect((await attempt(aegis!.port)).admitted).toBe(true); // 127.0.0.1 is one more address
    expect((await attempt(aegis!.port)).admitted).toBe(false);
    const again = fromAddresses(aegis!.port, "127.3.0.5", 2);
    expect(await again.result).toEqual({ admitted: 0, refused: 2 }); // still holding one each
    await again.release();
    expect((await aegis!.metrics()).get("aegis_per_ip_entries")).toBe(21);
    await others.release();
  });
});

describe("connection_rate_per_ip", () => {
  test("a burst of the bucket's size, then refusals until tokens come back", async () => {
    // A bucket of 4, a token back every 2 s: the burst has seconds to happen before a token comes
    // back, however busy the machine (at "4/2s" it had 500 ms).
    const TOKEN_MS = 2000;
    await start(`connection_rate_per_ip = "4/8s"`);
    const burstStart = performance.now();
    for (let i = 0; i < 4; i++) {
      const a = await attempt(aegis!.port);
      expect(a.admitted).toBe(true);
      a.client.socket.end(); // closing does not give a token back
    }
    expect((await attempt(aegis!.port)).admitted).toBe(false);
    expect(performance.now() - burstStart).toBeLessThan(TOKEN_MS); // else a token came back during the burst
    expect(await rejected("per_ip_rate")).toBe(1);
    // Refused until the first token is back (a refusal takes none), then one admission, one token's worth.
    await waitFor(async () => (await attempt(aegis!.port)).admitted, { timeoutMs: TOKEN_MS + 10_000, intervalMs: 100, what: "a token back" });
    expect(performance.now() - burstStart).toBeGreaterThanOrEqual(TOKEN_MS - 100); // not before its time
    expect((await attempt(aegis!.port)).admitted).toBe(false);
    expect((await aegis!.waitForLog((l) => l.reason === "per_ip_rate")).end).toBe("rejected");
  });

  test("a flood of distinct addresses is tracked in bounded memory and limits still hold after it", async () => {
    // "1/1h": every flooding address keeps a live entry for an hour, the worst case for the table.
    await start(`connection_rate_per_ip = "1/1h"\nmax_connections_per_ip = 2`);
    const rssBefore = Number((await Bun.file(`/proc/${aegis!.proc.pid}/status`).text()).match(/VmRSS:\s+(\d+)/)![1]) / 1024;
    const flood = fromAddresses(aegis!.port, "127.8.0.1", 3000);
    expect(await flood.result).toEqual({ admitted: 3000, refused: 0 });
    const m = await aegis!.metrics();
    expect(m.get("aegis_per_ip_entries")).toBe(3000);
    expect(m.get("aegis_per_ip_capacity")).toBe(262_144);
    const json = (await (await fetch(`http://127.0.0.1:${aegis!.metricsPort}/metrics.json`)).json()) as { per_ip: unknown };
    expect(json.per_ip).toEqual({ entries: 3000, capacity: 262_144 }); // the same numbers as /metrics
    const rssAfter = Number((await Bun.file(`/proc/${aegis!.proc.pid}/status`).text()).match(/VmRSS:\s+(\d+)/)![1]) / 1024;
    expect(rssAfter - rssBefore).toBeLessThan(64); // MiB: the table is preallocated; sessions come and go
    // Every flooding address has used its one token; a new one has its own.
    expect(await fromAddresses(aegis!.port, "127.8.0.1", 5).result).toEqual({ admitted: 0, refused: 5 });
    expect(await fromAddresses(aegis!.port, "127.9.0.1", 5).result).toEqual({ admitted: 5, refused: 0 });
    expect((await attempt(aegis!.port)).admitted).toBe(true);
    expect((await attempt(aegis!.port)).admitted).toBe(false);
  }, 30_000);
});
