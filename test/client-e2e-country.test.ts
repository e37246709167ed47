// Country routes and prefer_region in the compiled aegis, with a real GeoLite2 country database:
// PROXY headers from 127.0.0.1 claim clients around the world, and each lands where its country
// says; a GB client leaves its region's server only while health checks hold that server down.
import { afterEach, describe, expect, test } from "bun:test";
import { startAegis, tempDir, type Aegis } from "./helpers/aegis.ts";
import { startScripted, type Backend } from "./helpers/backends.ts";
import { ensureBinary } from "./helpers/build.ts";
import { GEO_DB } from "./helpers/geo.ts";
import { exchangeFrom } from "./helpers/haproxy.ts";
import { snapshotsApplied, waitFor } from "./helpers/wait.ts";

let aegis: Aegis | null = null;
const backends: Backend[] = [];
afterEach(async () => {
  await aegis?.stop("SIGKILL");
  aegis = null;
  for (const b of backends.splice(0)) b.stop();
});

const binary = () => ({ command: [ensureBinary()], cwd: tempDir() });

/** A server that says its name on connect, then echoes; on `port` (0: any), so a stopped one can come back where it was. */
function named(name: string, port = 0): Backend {
  const server = startScripted({
    open(socket) { socket.write(`${name}\n`); },
    data(socket, data) { socket.write(data); },
    end(socket) { socket.shutdown(); },
  }, port);
  backends.push(server);
  return server;
}

const GLOBAL = `
[global]
workers = 2
log_level = "debug"
shutdown_grace = "1s"
geoip = ${JSON.stringify(GEO_DB)}
`;

const LISTENER = `
[metrics]
listen = "127.0.0.1:0"

[[listener]]
name = "geo"
bind = "127.0.0.1:0"
proxy_protocol = "v1"
proxy_protocol_from = ["127.0.0.1/32"]
`;

let nextPort = 20_000;
/**
 * From 127.0.0.1, a v1 header claiming `client` (a fresh source port each time), then a line:
 * resolves with the name of the server that answered and the access log line of the session.
 */
async function claim(a: Aegis, client: string): Promise<{ server: string; logged: Record<string, unknown> }> {
  const port = nextPort++;
  const family = client.includes(":") ? "TCP6" : "TCP4";
  const destination = client.includes(":") ? "::1" : "127.0.0.1";
  const line = `hello from ${client}\n`;
  const exchange = await exchangeFrom("127.0.0.1", a.port, Buffer.from(`PROXY ${family} ${client} ${destination} ${port} 5432\r\n${line}`));
  const text = Buffer.from(exchange.received).toString();
  const [server, ...rest] = text.split("\n");
  expect({ client, echoed: rest.join("\n") }).toEqual({ client, echoed: line });
  const logged = await a.waitForLog((l) => l.msg === "session" && l.client === `${client}:${port}`);
  return { server: server!, logged };
}

describe("country routes", () => {
  test("US and CA to one upstream, FR to another, GB and a private address to the default", async () => {
    const [us, fr, rest] = [named("us"), named("fr"), named("rest")];
    aegis = await startAegis(`${GLOBAL}${LISTENER}upstream = "rest"

[[listener.route]]
country = ["US", "CA"]
upstream = "us"

[[listener.route]]
country = ["fr"]
upstream = "fr"

[[upstream]]
name = "us"
servers = ["${us.address}"]

[[upstream]]
name = "fr"
servers = ["${fr.address}"]

[[upstream]]
name = "rest"
servers = ["${rest.address}"]
`, binary());
    const expected: [string, string][] = [
      ["8.8.8.8", "us"], ["24.48.0.1", "us"], ["37.59.0.1", "fr"], ["2a01:e0a::1", "fr"],
      ["81.2.69.142", "rest"], ["10.1.1.1", "rest"], ["2001:4860:4860::8888", "us"],
    ];
    // Twice round, so each Worker is likely to have answered some (the kernel spreads the connections).
    for (const [client, upstream] of [...expected, ...expected]) {
      const { server, logged } = await claim(aegis, client);
      expect({ client, server, upstream: logged.upstream, end: logged.end }).toEqual({ client, server: upstream, upstream, end: "client_closed" });
    }
    expect([us.accepted, fr.accepted, rest.accepted]).toEqual([6, 4, 4]);
  });
});

describe("reload", () => {
  test("a SIGHUP that turns the PROXY protocol on and adds a GeoIP database and a country route applies to the next connection", async () => {
    const [us, rest] = [named("us"), named("rest")];
    aegis = await startAegis(`
[global]
workers = 2
log_level = "debug"

[metrics]
listen = "127.0.0.1:0"

[[listener]]
name = "geo"
bind = "127.0.0.1:0"
upstream = "rest"
#client-keys

[[upstream]]
name = "us"
servers = ["${us.address}"]

[[upstream]]
name = "rest"
servers = ["${rest.address}"]
`, binary());
    const a = aegis;
    const header = Buffer.from("PROXY TCP4 8.8.8.8 127.0.0.1 4000 5432\r\nhi\n");
    // Before: no PROXY protocol, so the header is the stream's own bytes.
    expect(Buffer.from((await exchangeFrom("127.0.0.1", a.port, header)).received).toString()).toBe(`rest\n${header}`);
    const path = String(a.logs.find((l) => l.msg === "ready")!.config);
    const text = await Bun.file(path).text();
    await Bun.write(path, text.replace("[global]", `[global]\ngeoip = ${JSON.stringify(GEO_DB)}`).replace("#client-keys", `proxy_protocol = "v1"
proxy_protocol_from = ["127.0.0.1/32"]

[[listener.route]]
country = ["US"]
upstream = "us"`));
    a.proc.kill("SIGHUP");
    const reloaded = await a.waitForLog((l) => l.msg === "reloaded" || String(l.msg).startsWith("reload failed"));
    expect(reloaded).toMatchObject({ msg: "reloaded", changes: [
      `listeners.geo.route: changed`,
      `listeners.geo.proxy_protocol: "off" -> "v1"`,
      `listeners.geo.proxy_protocol_from: none -> ["127.0.0.1/32"]`,
      `global.geoip: ${GEO_DB} added`,
    ] });
    expect((await claim(a, "8.8.8.8")).server).toBe("us");
    expect((await claim(a, "81.2.69.142")).server).toBe("rest");
  });
});

describe("prefer_region = true", () => {
  test("a GB client goes to the eu-west server while it is up, to the other while health checks hold it down, and back", async () => {
    const eu = named("eu");
    const na = named("na");
    const euPort = eu.port;
    aegis = await startAegis(`${GLOBAL}
[global.regions]
eu-west = ["GB", "IE", "FR"]
na = ["US", "CA"]
${LISTENER}upstream = "geo"
prefer_region = true

[[upstream]]
name = "geo"
servers = [{ address = "${eu.address}", region = "eu-west" }, { address = "${na.address}", region = "na" }]
health = { interval = "200ms", timeout = "150ms", rise = 1, fall = 1 }
`, binary());
    const a = aegis;
    const upKey = (b: { address: string }) => `aegis_server_up{upstream="geo",server="${b.address}"}`;
    const serverUp = async (server: { address: string }, value: number) => {
      await waitFor(async () => (await a.metrics()).get(upKey(server)) === value || false, { what: `${upKey(server)} = ${value}` });
      await snapshotsApplied(a.metricsPort); // every Worker picks by the new state
    };
    await serverUp(eu, 1);
    await serverUp(na, 1);
    const servers = async (client: string, n: number) => {
      const seen: string[] = [];
      for (let i = 0; i < n; i++) seen.push((await claim(a, client)).server);
      return seen;
    };
    expect(await servers("81.2.69.142", 6)).toEqual(Array(6).fill("eu"));
    expect(await servers("8.8.8.8", 4)).toEqual(Array(4).fill("na"));
    // No country, so no region: both servers, as without the preference.
    expect(new Set(await servers("10.1.1.1", 6))).toEqual(new Set(["eu", "na"]));

    eu.stop();
    await serverUp(eu, 0);
    const down = await claim(a, "81.2.69.142");
    expect({ server: down.server, logged: down.logged.server }).toEqual({ server: "na", logged: na.address });
    expect(await servers("81.2.69.142", 3)).toEqual(Array(3).fill("na"));

    named("eu", euPort); // back on its port: the next check brings it up
    await serverUp(eu, 1);
    expect(await servers("81.2.69.142", 3)).toEqual(Array(3).fill("eu"));
  }, 60_000);
});
