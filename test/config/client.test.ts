// The keys about who the client is: PROXY protocol, source and country routes, regions, stick; what loads and each bad input's message.
import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { configJsonSchema } from "../../src/config/json-schema.ts";
import { problemsOf } from "./helpers.ts";
import { GEO_DB } from "../helpers/geo.ts";

const q = JSON.stringify;
const config = (listener: string, upstream = "", global = "", servers = `["127.0.0.1:6379"]`) => `
[global]
${global}

[[listener]]
bind = "127.0.0.1:8081"
upstream = "app"
${listener}

[[upstream]]
name = "app"
servers = ${servers}
${upstream}

[[upstream]]
name = "other"
servers = [{ address = "127.0.0.1:6380", region = "eu-west" }, { address = "127.0.0.1:6381", region = "us-east" }]
`;
const load = (text: string) => parseConfig(text, "aegis.toml");
const has = (text: string, message: string) => {
  const problems = problemsOf(text);
  expect(problems.some((p) => p.startsWith(`aegis.toml: ${message}`)), `${message}\n -> ${problems.join("\n    ")}`).toBe(true);
};

describe("proxy_protocol", () => {
  test("off by default; on, it needs proxy_protocol_from, canonicalised", () => {
    expect(load(config("")).listeners[0]!.proxyProtocol).toBeUndefined();
    const l = load(config(`proxy_protocol = "v2"\nproxy_protocol_from = ["10.0.0.0/8", "::1"]`)).listeners[0]!;
    expect(l.proxyProtocol).toEqual({ accept: "v2", from: ["10.0.0.0/8", "::1/128"], timeoutMs: 5000 });
    expect(load(config(`proxy_protocol = "any"\nproxy_protocol_from = ["127.0.0.1"]\nproxy_protocol_timeout = "2s"`)).listeners[0]!.proxyProtocol)
      .toEqual({ accept: "any", from: ["127.0.0.1/32"], timeoutMs: 2000 });
  });

  test("bad inputs", () => {
    has(config(`proxy_protocol = "v2"`), `listener[0].proxy_protocol_from: required with proxy_protocol = "v2"`);
    has(config(`proxy_protocol = "v2"\nproxy_protocol_from = []`), `listener[0].proxy_protocol_from: required`);
    has(config(`proxy_protocol_from = ["10.0.0.0/8"]`), `listener[0].proxy_protocol_from: set, but proxy_protocol is "off"`);
    has(config(`proxy_protocol = "v3"\nproxy_protocol_from = ["10.0.0.0/8"]`), `listener[0].proxy_protocol: "v3" is not a valid value`);
    has(config(`proxy_protocol = "v1"\nproxy_protocol_from = ["10.0.0.1/8"]`), `listener[0].proxy_protocol_from[0]: "10.0.0.1/8" has host bits set`);
  });

  test("send_proxy on an upstream; not with tls", () => {
    expect(load(config("", `send_proxy = "v1"`)).upstreams[0]!.sendProxy).toBe(1);
    expect(load(config("", `send_proxy = "v2"`)).upstreams[0]!.sendProxy).toBe(2);
    expect(load(config("", `send_proxy = "off"`)).upstreams[0]!.sendProxy).toBeUndefined();
    has(config("", `send_proxy = "any"`), `upstream[0].send_proxy: "any" is not a valid value`);
    has(config("", `send_proxy = "v2"\ntls = {}`), `upstream[0].send_proxy: not supported together with tls yet`);
  });
});

describe("source and country routes", () => {
  test("source routes load canonical; a route with only source or country is a route", () => {
    const l = load(config(`[[listener.route]]\nsource = ["192.168.0.0/16", "2001:db8::/32"]\nupstream = "other"`)).listeners[0]!;
    expect(l.routes).toEqual([{ sni: [], alpn: [], source: ["192.168.0.0/16", "2001:db8::/32"], country: [], preferRegion: null, upstream: "other" }]);
  });

  test("country needs [global] geoip; codes are upper-cased and checked", () => {
    has(config(`[[listener.route]]\ncountry = ["US"]\nupstream = "other"`), "listener[0].route[0].country: needs [global] geoip");
    const text = config(`[[listener.route]]\ncountry = ["us", "CA"]\nupstream = "other"`, "", `geoip = ${q(GEO_DB)}`);
    expect(load(text).listeners[0]!.routes![0]!.country).toEqual(["US", "CA"]);
    has(config(`[[listener.route]]\ncountry = ["USA"]\nupstream = "other"`, "", `geoip = ${q(GEO_DB)}`), `listener[0].route[0].country[0]: "USA" is not an ISO 3166-1 country code`);
  });

  test("a missing or corrupt database is a config error with its path; a good one is described", () => {
    has(config("", "", `geoip = "/nonexistent/GeoLite2-Country.mmdb"`), `global.geoip: `);
    expect(problemsOf(config("", "", `geoip = "/nonexistent/GeoLite2-Country.mmdb"`)).join("\n")).toContain("/nonexistent/GeoLite2-Country.mmdb");
    const dir = mkdtempSync(join(tmpdir(), "aegis-geo-"));
    const junk = join(dir, "junk.mmdb");
    writeFileSync(junk, Buffer.alloc(4096, 7));
    expect(problemsOf(config("", "", `geoip = ${q(junk)}`)).join("\n")).toContain(junk);
    // Relative to the config file, as every file a config names.
    copyFileSync(GEO_DB, join(dir, "countries.mmdb"));
    const loaded = parseConfig(config("", "", `geoip = "countries.mmdb"`), join(dir, "aegis.toml"));
    expect(loaded.global.geoip!.files).toEqual([join(dir, "countries.mmdb")]);
    expect(loaded.global.geoip!.describe.length).toBe(1);
    expect(loaded.global.geoip!.fingerprint.length).toBeGreaterThan(0);
  });
});

describe("regions and prefer_region", () => {
  test("[global.regions] maps countries to regions; a country in two regions is refused", () => {
    const text = config("", "", `geoip = ${q(GEO_DB)}\n[global.regions]\neu-west = ["ie", "GB", "FR"]\nus-east = ["US"]`);
    expect(load(text).global.regions).toEqual({ "eu-west": ["IE", "GB", "FR"], "us-east": ["US"] });
    has(config("", "", `[global.regions]\neu-west = ["IE"]\neu-north = ["IE"]`), `global.regions.eu-north[0]: IE is already in region "eu-west"`);
    has(config("", "", `[global.regions]\neu-west = []`), `global.regions.eu-west: expected a list of country codes`);
    has(config("", "", `[global.regions]\neu-west = ["Ireland"]`), `global.regions.eu-west[0]: "Ireland" is not an ISO 3166-1 country code`);
  });

  test("a server's region; prefer_region true or a region, on a route or a listener", () => {
    const regions = `geoip = ${q(GEO_DB)}\n[global.regions]\neu-west = ["IE"]`;
    const text = config(`prefer_region = true\n[[listener.route]]\nsource = ["10.0.0.0/8"]\nprefer_region = "us-east"\nupstream = "other"`, "", regions,
      `[{ address = "127.0.0.1:6379", region = "eu-west" }]`);
    const c = load(text);
    expect(c.listeners[0]!.preferRegion).toBe(true);
    expect(c.listeners[0]!.routes![0]!.preferRegion).toBe("us-east");
    expect(c.upstreams[0]!.servers[0]!.region).toBe("eu-west");
    expect(c.upstreams[0]!.servers[0]).not.toHaveProperty("region", undefined);
  });

  test("bad preferences", () => {
    has(config(`prefer_region = true`), `listener[0].prefer_region: true needs [global] geoip`);
    has(config(`prefer_region = true`, "", `geoip = ${q(GEO_DB)}`), `listener[0].prefer_region: true needs [global.regions]`);
    has(config(`prefer_region = "eu-west"`), `listener[0].prefer_region: no server of upstream "app" has a region`);
    has(config(`[[listener.route]]\nsource = ["10.0.0.0/8"]\nprefer_region = "ap-south"\nupstream = "other"`), `listener[0].route[0].prefer_region: no server of upstream "other" is in region "ap-south" (its regions: "eu-west", "us-east")`);
    has(config(`prefer_region = false`), `listener[0].prefer_region: false is the default`);
    has(config(`prefer_region = 3`), `listener[0].prefer_region: expected true or a region name, got 3`);
    has(config("", "", "", `[{ address = "127.0.0.1:6379", region = "eu west" }]`), `upstream[0].servers[0].region: "eu west" is not a valid name`);
  });
});

describe("stick", () => {
  test("defaults and bounds", () => {
    expect(load(config("", `stick = { on = "source" }`)).upstreams[0]!.stick).toEqual({ ttlMs: 1_800_000, maxEntries: 100_000 });
    expect(load(config("", `stick = { ttl = "5s", max_entries = 64 }`)).upstreams[0]!.stick).toEqual({ ttlMs: 5000, maxEntries: 64 });
    expect(load(config("")).upstreams[0]!.stick).toBeUndefined();
    has(config("", `stick = { on = "cookie" }`), `upstream[0].stick.on: "cookie" is not a valid value`);
    has(config("", `stick = { ttl = "100ms" }`), `upstream[0].stick.ttl: "100ms" is too short (at least 1s)`);
    has(config("", `stick = { max_entries = 3 }`), `upstream[0].stick.max_entries: 3 is out of range`);
    has(config("", `stick = { ttl = "5s", size = 3 }`), `upstream[0].stick: unknown key "size"`);
  });
});

test("the JSON Schema describes every new key", () => {
  const schema = JSON.stringify(configJsonSchema());
  for (const key of ["proxy_protocol", "proxy_protocol_from", "proxy_protocol_timeout", "prefer_region", "send_proxy", "stick", "geoip", "regions", "region", "source", "country"]) {
    expect(schema).toContain(`"${key}"`);
  }
});
