// `aegis init`'s TLS answers without a terminal: the PEM checks on real openssl files, the --tls-* flags,
// --yes writing the listener's tls table (read back by the real loader), and the loader's last word.
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { InitAnswers } from "../src/cli/init/answers.ts";
import { runInit, type InitDeps } from "../src/cli/init/command.ts";
import { parseInitFlags } from "../src/cli/init/flags.ts";
import { renderConfig } from "../src/cli/init/render.ts";
import { certProblem, keyFileProblem } from "../src/cli/init/tls.ts";
import { ConfigError } from "../src/config/errors.ts";
import { loadConfigFile } from "../src/config/load.ts";
import { BALANCE_ALGORITHMS } from "../src/config/schema.ts";
import { SOURCE_COMMAND, tempDir } from "./helpers/aegis.ts";
import { run } from "./helpers/build.ts";
import { issueCertificate } from "./helpers/certs.ts";

/** A self-signed localhost certificate in a fresh dir, and the odd files a user may point at instead. */
function files() {
  const dir = tempDir("aegis-init-tls-");
  const good = issueCertificate(dir, "server", "/CN=localhost", ["subjectAltName=DNS:localhost"], null);
  const other = issueCertificate(dir, "other", "/CN=other", ["subjectAltName=DNS:other"], null);
  const both = join(dir, "both.pem");
  writeFileSync(both, good.cert + good.key);
  const encrypted = join(dir, "encrypted-key.pem");
  const r = Bun.spawnSync(["openssl", "pkey", "-in", good.keyPath, "-aes256", "-passout", "pass:secret", "-out", encrypted], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(r.stderr.toString());
  const big = join(dir, "big.pem");
  writeFileSync(big, Buffer.alloc(4 * 1024 * 1024 + 1, "A"));
  return { dir, good, other, both, encrypted, big };
}

describe("the PEM checks", () => {
  const f = files();

  test("a certificate file: missing, a directory, a device, too large, a key instead; a real one passes", () => {
    expect(certProblem(join(f.dir, "nope.pem"))).toBe(`cannot read ${f.dir}/nope.pem: no such file`);
    expect(certProblem(f.dir)).toBe(`cannot read ${f.dir}: it is a directory`);
    expect(certProblem("/dev/zero")).toBe("cannot read /dev/zero: it is a character device, not a regular file");
    expect(certProblem(f.big)).toBe(`cannot read ${f.big}: it is 4194305 bytes, over the limit of 4 MiB`);
    expect(certProblem(f.good.keyPath)).toBe(`${f.good.keyPath}: no PEM certificate block ("-----BEGIN CERTIFICATE-----") found (it holds a private key: are cert and key swapped?)`);
    expect(certProblem(f.good.certPath)).toBeNull();
    expect(certProblem(f.both)).toBeNull();
  });

  test("a key file: the certificate's own passes; a swapped, stray, encrypted or missing key is named", () => {
    const cert = f.good.certPath;
    expect(keyFileProblem(cert, f.good.keyPath)).toBeNull();
    expect(keyFileProblem(cert, cert)).toContain(`${cert}: the key is not a PEM private key: no "-----BEGIN PRIVATE KEY-----" block (it holds a certificate`);
    expect(keyFileProblem(cert, f.other.keyPath)).toBe(`${f.other.keyPath} is not the key of the certificate in ${cert} (localhost)`);
    expect(keyFileProblem(cert, f.encrypted)).toBe(`${f.encrypted}: the key is encrypted, and encrypted keys are not supported: decrypt it with openssl pkey -in key.pem -out plain.pem`);
    expect(keyFileProblem(cert, join(f.dir, "nope-key.pem"))).toBe(`cannot read ${f.dir}/nope-key.pem: no such file`);
  });

  test("no key path: the certificate file must hold the key", () => {
    expect(keyFileProblem(f.both, undefined)).toBeNull();
    expect(keyFileProblem(f.good.certPath, undefined)).toBe(`${f.good.certPath} holds no private key, so the key file is needed too`);
  });
});

describe("the --tls flags", () => {
  const f = files();
  const parse = (argv: string[]) => parseInitFlags(argv, BALANCE_ALGORITHMS, f.dir);
  const problem = (argv: string[]) => {
    try {
      parse(argv);
    } catch (e) {
      return (e as Error).message;
    }
    return null;
  };

  test("relative paths are made absolute against the working directory", () => {
    expect(parse(["--tls-cert", "server.pem", "--tls-key=server-key.pem"]).tls).toEqual({ cert: f.good.certPath, key: f.good.keyPath, postgres: false });
    expect(parse(["--tls-cert", f.both, "--tls-postgres"]).tls).toEqual({ cert: f.both, postgres: true });
    expect(parse([]).tls).toBeUndefined();
  });

  test("each mistake is named, before any question", () => {
    expect(problem(["--tls-cert", "nope.pem"])).toBe(`--tls-cert: cannot read ${f.dir}/nope.pem: no such file`);
    expect(problem(["--tls-cert", "server.pem"])).toBe(`--tls-cert: ${f.good.certPath} holds no private key, so the key file is needed too`);
    expect(problem(["--tls-cert", "server.pem", "--tls-key", "other-key.pem"])).toBe(`--tls-key: ${f.other.keyPath} is not the key of the certificate in ${f.good.certPath} (localhost)`);
    expect(problem(["--tls-key", "server-key.pem"])).toBe("--tls-key needs --tls-cert: a key is only used with its certificate");
    expect(problem(["--tls-postgres"])).toBe("--tls-postgres needs --tls-cert (and --tls-key unless the cert file holds the key)");
    expect(problem(["--tls-postgres=yes"])).toBe("--tls-postgres takes no value");
    expect(problem(["--tls-cert"])).toBe("--tls-cert needs a value");
  });
});

/** runInit with --yes, in-process: what it wrote and said. */
async function initYes(dir: string, argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const deps: InitDeps = {
    input: process.stdin, output: process.stdout, errorOutput: process.stderr, interactive: false, cwd: dir,
    out: (t) => out.push(t), err: (t) => err.push(t),
    portProblem: () => null, reach: async () => null, offerService: false,
    installService: async () => 0, now: new Date("2026-01-02T03:04:05Z"), trapSigint: false,
  };
  const code = await runInit(["--listen", "127.0.0.1:16380", "--server", "10.0.0.5:6379", "--yes", ...argv], deps);
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("init --yes with TLS", () => {
  test("writes the listener's tls table with absolute paths, which the real loader reads; says how to try it", async () => {
    const f = files();
    const r = await initYes(f.dir, ["--tls-cert", "server.pem", "--tls-key", "server-key.pem"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const path = join(f.dir, "aegis.toml");
    const text = readFileSync(path, "utf8");
    expect(text).toContain("# TLS is terminated here: clients must now connect with TLS; the servers behind stay plaintext.");
    expect(text).toContain(`\ntls = { cert = "${f.good.certPath}", key = "${f.good.keyPath}" }\n`);
    const tls = loadConfigFile(path).listeners[0]!.tls!;
    expect(tls.mode).toBe("tls");
    expect(tls.certificates.map((c) => [c.cert.file, c.key.file, c.subject])).toEqual([[f.good.certPath, f.good.keyPath, "localhost"]]);
    expect(r.out).toContain("openssl s_client -connect 127.0.0.1:16380");
  });

  test("--tls-postgres writes mode = \"postgres\" and suggests psql with sslmode=require", async () => {
    const f = files();
    const r = await initYes(f.dir, ["--health", "postgresql", "--tls-cert", "both.pem", "--tls-postgres"]);
    expect(r.code).toBe(0);
    const text = readFileSync(join(f.dir, "aegis.toml"), "utf8");
    expect(text).toContain(`\ntls = { cert = "${f.both}", mode = "postgres" }\n`);
    const tls = loadConfigFile(join(f.dir, "aegis.toml")).listeners[0]!.tls!;
    expect(tls.mode).toBe("postgres");
    expect(tls.certificates.map((c) => [c.cert.file, c.key.file])).toEqual([[f.both, f.both]]);
    expect(text).toContain("# The certificate file holds the private key too.");
    expect(r.out).toContain(`psql "host=127.0.0.1 port=16380 sslmode=require"`);
  });

  test("a bad flag writes nothing and exits 2 with the reason (from source)", async () => {
    const f = files();
    const r = await run([...SOURCE_COMMAND, "init", "--listen", "0.0.0.0:6380", "--server", "10.0.0.5:6379", "--tls-key", "server-key.pem", "--yes"], { cwd: f.dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("aegis: --tls-key needs --tls-cert");
    expect(r.stderr).toContain("aegis help init");
    const missing = await run([...SOURCE_COMMAND, "init", "--listen", "0.0.0.0:6380", "--server", "10.0.0.5:6379", "--tls-cert", "gone.pem", "--yes"], { cwd: f.dir });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`aegis: --tls-cert: cannot read ${f.dir}/gone.pem: no such file`);
  });
});

describe("the rendered file", () => {
  test("files that the loader refuses after all (changed since the checks) are its error, not a commented-out line", () => {
    const f = files();
    const a: InitAnswers = {
      listen: "0.0.0.0:6380", tls: { cert: f.good.certPath, key: f.other.keyPath, postgres: false },
      servers: ["10.0.0.5:6379"], balance: "round_robin", health: "none", metrics: null, service: false, output: "aegis.toml",
    };
    expect(() => renderConfig(a, { version: "9.9.9", date: "2026-01-02" })).toThrow(ConfigError);
    expect(() => renderConfig(a, { version: "9.9.9", date: "2026-01-02" })).toThrow("does not match the certificate");
  });
});
