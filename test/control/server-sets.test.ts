// ServerSets: the file's servers, then each discovery source's, then the admin API's, merged in that
// order; a name or address already taken keeps its first server; removals and moves apply to all.
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../src/config/load.ts";
import type { ServerConfig } from "../../src/config/types.ts";
import { ServerSets } from "../../src/control/server-sets.ts";

const file = parseConfig(`
[[listener]]
bind = "127.0.0.1:7000"
upstream = "app"
[[upstream]]
name = "app"
servers = [{ name = "f1", address = "10.0.0.1:80" }, "10.0.0.2:80"]
[[upstream]]
name = "other"
servers = ["10.1.0.1:80"]
`, "sets-test.toml");
const labels = () => ["dns:a", "sqlite:b"];
const server = (name: string, address: string, source: ServerConfig["source"] = "dns"): ServerConfig =>
  ({ name, address: { host: address.split(":")[0]!, port: Number(address.split(":")[1]) }, weight: 1, backup: false, source });
const names = (sets: ServerSets) => sets.merge(file, labels).upstreams[0]!.servers.map((s) => s.name);

describe("ServerSets", () => {
  test("nothing changed: the file's config, as it is", () => {
    const sets = new ServerSets();
    expect(sets.merge(file, labels)).toEqual(file);
  });

  test("file, then sources in the upstream's order, then API additions", () => {
    const sets = new ServerSets();
    expect(sets.setDiscovered("app", "sqlite:b", [server("s1", "10.0.0.6:80", "sqlite")])).toBe(true);
    expect(sets.setDiscovered("app", "dns:a", [server("10.0.0.5:80", "10.0.0.5:80")])).toBe(true);
    sets.api("app").added.push(server("api1", "10.0.0.9:80", "api"));
    expect(names(sets)).toEqual(["f1", "10.0.0.2:80", "10.0.0.5:80", "s1", "api1"]);
    // Other upstreams are left alone.
    expect(sets.merge(file, labels).upstreams[1]).toEqual(file.upstreams[1]!);
  });

  test("the same set again is no change", () => {
    const sets = new ServerSets();
    sets.setDiscovered("app", "dns:a", [server("x", "10.0.0.5:80")]);
    expect(sets.setDiscovered("app", "dns:a", [server("x", "10.0.0.5:80")])).toBe(false);
    expect(sets.setDiscovered("app", "dns:a", [])).toBe(true);
  });

  test("a taken name or address keeps its first server, and the clash is reported", () => {
    const sets = new ServerSets();
    const shadowed: string[] = [];
    sets.setDiscovered("app", "dns:a", [server("10.0.0.1:80", "10.0.0.1:80"), server("f1", "10.0.0.7:80"), server("ok", "10.0.0.8:80")]);
    const merged = sets.merge(file, labels, (s) => shadowed.push(`${s.server}: ${s.by}`));
    expect(merged.upstreams[0]!.servers.map((s) => s.name)).toEqual(["f1", "10.0.0.2:80", "ok"]);
    expect(shadowed).toEqual(["10.0.0.1:80: address 10.0.0.1:80 already in use", "f1: name f1 already in use"]);
  });

  test("API removals and moves apply to file and discovered servers", () => {
    const sets = new ServerSets();
    sets.setDiscovered("app", "dns:a", [server("d1", "10.0.0.5:80")]);
    sets.api("app").removed.push("10.0.0.2:80", "d1");
    sets.api("app").moved["f1"] = { host: "10.0.0.99", port: 81 };
    const merged = sets.merge(file, labels).upstreams[0]!.servers;
    expect(merged.map((s) => `${s.name}@${s.address.host}:${s.address.port}`)).toEqual(["f1@10.0.0.99:81"]);
  });

  test("save and restore round-trip; clearApi keeps discovery; keepOnly drops gone sources and upstreams", () => {
    const sets = new ServerSets();
    sets.setDiscovered("app", "dns:a", [server("d1", "10.0.0.5:80")]);
    sets.setDiscovered("app", "dns:gone", [server("d2", "10.0.0.6:80")]);
    sets.setDiscovered("nowhere", "dns:a", [server("d3", "10.0.0.7:80")]);
    sets.api("app").added.push(server("api1", "10.0.0.9:80", "api"));
    const copy = new ServerSets();
    copy.restore(JSON.parse(JSON.stringify(sets.save())));
    expect(copy.save()).toEqual(sets.save());
    copy.clearApi();
    expect(names(copy)).toEqual(["f1", "10.0.0.2:80", "d1"]);
    copy.keepOnly(file, labels);
    expect(Object.keys(copy.save())).toEqual(["app"]);
    expect(copy.discovered("app", "dns:gone")).toBeUndefined();
    expect(copy.discovered("app", "dns:a")).toHaveLength(1);
  });
});
