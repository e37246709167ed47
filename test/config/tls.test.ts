// The TLS keys of a config: what loads (files read relative to the config, key matched to its
// certificate, SNI patterns normalised) and the message for each bad input.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../../src/config/load.ts";
import { planReload } from "../../src/control/reload-plan.ts";
import { makePki } from "../helpers/certs.ts";
import { problemsOf } from "./helpers.ts";

const pki = makePki();
const q = JSON.stringify;
const A = `cert = ${q(pki.serverA.certPath)}, key = ${q(pki.serverA.keyPath)}`;
const B = `cert = ${q(pki.serverB.certPath)}, key = ${q(pki.serverB.keyPath)}`;

const config = (listener: string, upstream = "", more = "") => `
[[listener]]
bind = "127.0.0.1:8081"
upstream = "app"
${listener}

[[upstream]]
name = "app"
servers = ["127.0.0.1:6379"]
${upstream}
${more}
`;
const load = (text: string) => parseConfig(text, "aegis.toml");

describe("a listener's tls", () => {
  test("one certificate: read, checked and described; defaults filled", () => {
    const tls = load(config(`tls = { ${A} }`)).listeners[0]!.tls!;
    expect(tls).toMatchObject({ mode: "tls", minVersion: "1.2", alpn: [], clientCa: null, requireClientCert: false });
    expect(tls.certificates).toHaveLength(1);
    expect(tls.certificates[0]).toMatchObject({ subject: "a.test", names: ["a.test", "*.a.test"], cert: { file: pki.serverA.certPath } });
    expect(tls.certificates[0]!.cert.pem).toContain("BEGIN CERTIFICATE");
    expect(tls.certificates[0]!.notAfter).toBeGreaterThan(Date.now());
  });

  test("paths are relative to the config file; a file holding certificate and key needs no key", () => {
    const dir = mkdtempSync(join(tmpdir(), "aegis-tls-"));
    copyFileSync(pki.serverA.certPath, join(dir, "a.pem"));
    copyFileSync(pki.serverA.keyPath, join(dir, "a.key"));
    const both = join(dir, "both.pem");
    Bun.spawnSync(["sh", "-c", `cat ${q(pki.serverA.certPath)} ${q(pki.serverA.keyPath)} > ${q(both)}`]);
    const c = parseConfig(config(`tls = { certificates = [{ cert = "a.pem", key = "a.key" }, "both.pem"] }`), join(dir, "aegis.toml"));
    expect(c.listeners[0]!.tls!.certificates.map((x) => [x.cert.file, x.key.file])).toEqual([[join(dir, "a.pem"), join(dir, "a.key")], [both, both]]);
  });

  test("each bad input has its own message", () => {
    const cases: [string, string][] = [
      [`tls = { key = ${q(pki.serverA.keyPath)} }`, `listener[0].tls: missing the certificate: give cert = "server.pem" (and key), or certificates = [...]`],
      [`tls = { ${A}, certificates = [{ ${B} }] }`, "listener[0].tls: give cert (and key) or certificates, not both"],
      [`tls = { cert = "/nonexistent/a.pem", key = "/nonexistent/a.key" }`, `listener[0].tls.cert: cannot read "/nonexistent/a.pem": no such file`],
      [`tls = { cert = ${q(pki.serverA.certPath)}, key = ${q(pki.serverB.keyPath)} }`, `listener[0].tls.key: the key in ${q(pki.serverB.keyPath)} does not match the certificate in ${q(pki.serverA.certPath)} (a.test)`],
      [`tls = { cert = ${q(pki.serverA.certPath)} }`, `listener[0].tls.cert: ${q(pki.serverA.certPath)} holds no private key: give key = "<file>" too`],
      [`tls = { cert = ${q(pki.serverA.keyPath)}, key = ${q(pki.serverA.keyPath)} }`, `listener[0].tls.cert: ${q(pki.serverA.keyPath)}: no PEM certificate block`],
      [`tls = { ${A}, require_client_cert = true }`, "listener[0].tls.require_client_cert: needs client_ca, the CAs that client certificates are checked against"],
      [`tls = { ${A}, client_ca = ${q(pki.serverA.keyPath)} }`, `listener[0].tls.client_ca: ${q(pki.serverA.keyPath)} holds no PEM certificate`],
      [`tls = { ${A}, min_version = "1.1" }`, `listener[0].tls.min_version: "1.1" is not a valid value`],
      [`tls = { ${A}, alpn = ["h 2"] }`, `listener[0].tls.alpn[0]: "h 2" is not an ALPN protocol name`],
      [`tls = { ${A}, alpn = [] }`, "listener[0].tls.alpn: needs at least one entry"],
      [`tls = { ${A}, mode = "mysql" }`, `listener[0].tls.mode: "mysql" is not a valid value`],
      [`tls = { certificates = [{ ${A} }, { ${B} }], mode = "postgres" }`, `listener[0].tls.certificates: mode = "postgres" serves one certificate`],
      [`tls = { ${A}, crt = "x" }`, `listener[0].tls: unknown key "crt"`],
    ];
    for (const [listener, message] of cases) {
      const problems = problemsOf(config(listener));
      expect(problems.some((p) => p.startsWith(`aegis.toml: ${message}`)), `${listener}\n -> ${problems.join("\n    ")}`).toBe(true);
    }
  });
});

describe("routes and inspect", () => {
  const routes = (r: string) => config(`inspect = { timeout = "2s", max_bytes = 4096 }\n${r}`, "", `[[upstream]]\nname = "db"\nservers = ["127.0.0.1:5432"]`);

  test("routes load in order with names lower-cased; inspect is kept", () => {
    const l = load(routes(`[[listener.route]]\nsni = ["DB.Example.com.", "*.db.example.com"]\nupstream = "db"\n[[listener.route]]\nalpn = ["h2"]\nupstream = "app"`)).listeners[0]!;
    const none = { source: [], country: [], preferRegion: null };
    expect(l.routes).toEqual([{ sni: ["db.example.com", "*.db.example.com"], alpn: [], ...none, upstream: "db" }, { sni: [], alpn: ["h2"], ...none, upstream: "app" }]);
    expect(l.inspect).toEqual({ timeoutMs: 2000, maxBytes: 4096 });
  });

  test("a route must match on something, name an upstream that exists, and use valid names", () => {
    const cases: [string, string][] = [
      [`[[listener.route]]\nupstream = "db"`, "listener[0].route[0]: a route needs sni, alpn, source or country to match on"],
      [`[[listener.route]]\nsni = ["a.test"]\nupstream = "dbb"`, `listener[0].route[0].upstream: no [[upstream]] named "dbb" (did you mean "db"?)`],
      [`[[listener.route]]\nsni = ["a*.test"]\nupstream = "db"`, `listener[0].route[0].sni[0]: "a*.test"`],
      [`[[listener.route]]\nsni = []\nupstream = "db"`, "listener[0].route[0].sni: needs at least one entry"],
      [`[[listener.route]]\nsni = "a.test"\nupstream = "db"`, "listener[0].route[0].sni: expected an array of strings"],
    ];
    for (const [route, message] of cases) {
      const problems = problemsOf(routes(route));
      expect(problems.some((p) => p.startsWith(`aegis.toml: ${message}`)), `${route}\n -> ${problems.join("\n    ")}`).toBe(true);
    }
    expect(problemsOf(config(`inspect = { max_bytes = 10 }`)).join()).toContain("listener[0].inspect.max_bytes: 10 is out of range (64..1048576)");
  });
});

describe("an upstream's tls", () => {
  test("verify is on by default; ca and a client certificate are read", () => {
    const tls = load(config("", `tls = { server_name = "redis.internal", ca = ${q(pki.ca.certPath)}, cert = ${q(pki.client.certPath)}, key = ${q(pki.client.keyPath)} }`)).upstreams[0]!.tls!;
    expect(tls).toMatchObject({ serverName: "redis.internal", verify: true, alpn: [], ca: { file: pki.ca.certPath }, certificate: { subject: "client-1" } });
    expect(load(config("", "tls = {}")).upstreams[0]!.tls).toMatchObject({ serverName: null, verify: true, ca: null, certificate: null });
  });

  test("bad inputs", () => {
    expect(problemsOf(config("", `tls = { key = ${q(pki.client.keyPath)} }`))).toContain("aegis.toml: upstream[0].tls.key: needs cert, the client certificate it belongs to");
    expect(problemsOf(config("", `tls = { ca = "/nonexistent/ca.pem" }`))).toContain(`aegis.toml: upstream[0].tls.ca: cannot read "/nonexistent/ca.pem": no such file`);
    expect(problemsOf(config("", `tls = { verify = "yes" }`))).toContain(`aegis.toml: upstream[0].tls.verify: expected true or false, got "yes"`);
  });
});

describe("reloads", () => {
  test("new certificates keep the port and say so; an unchanged listener keeps its socket", () => {
    const before = load(config(`tls = { ${A} }`));
    const after = load(config(`tls = { ${B} }`));
    const plan = planReload(before, after, [8081]);
    expect(plan.ports).toEqual([8081]);
    expect(plan.fresh).toEqual([]);
    expect(plan.changes).toHaveLength(2);
    expect(plan.changes[0]).toBe("listeners.app.tls: new settings or certificates (a new socket on the same port; open sessions go on)");
    // Certificates are named by subject and the start of the fingerprint, never by their PEM.
    expect(plan.changes[1]).toMatch(/^listeners\.app\.tls\.certificates: \["a\.test" \([0-9A-F:]{14}…\)\] -> \["b\.test" \([0-9A-F:]{14}…\)\]$/);
    expect(planReload(before, load(config(`tls = { ${A} }`)), [8081]).changes).toEqual([]);
  });
});
