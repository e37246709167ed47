// scripts/install.sh and scripts/release.sh, run for real into temporary directories (DESTDIR),
// and the --version line a user checks after installing.
import { beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { REPO, tempDir } from "./helpers/aegis.ts";
import { ensureBinary, run } from "./helpers/build.ts";

const INSTALL = join(REPO, "scripts/install.sh");
const RELEASE = join(REPO, "scripts/release.sh");
const VERSION_LINE = new RegExp(`^aegis ${pkg.version.replace(/\./g, "\\.")} \\(commit [0-9a-f]{7,}, built \\d{4}-\\d{2}-\\d{2}, bun ${Bun.version.replace(/\./g, "\\.")}, ${process.platform}-${process.arch}\\)\\n$`);

let binary = "";
beforeAll(() => {
  binary = ensureBinary();
}, 120_000);

describe("scripts/install.sh", () => {
  test("installs dist/aegis into DESTDIR/usr/local/bin, creates /etc/aegis, prints the next steps; a second run keeps /etc/aegis", async () => {
    const dest = tempDir("aegis-destdir-");
    const r = await run(["bash", INSTALL], { env: { DESTDIR: dest, PREFIX: undefined }, timeoutMs: 30_000 });
    expect(r.stderr).toContain(`installed ${dest}/usr/local/bin/aegis`);
    expect(r.code).toBe(0);
    const installed = join(dest, "usr/local/bin/aegis");
    expect(statSync(installed).mode & 0o777).toBe(0o755);
    expect(statSync(join(dest, "etc/aegis")).isDirectory()).toBe(true);
    expect(r.stdout).toContain("sudo /usr/local/bin/aegis init --output /etc/aegis/aegis.toml");
    expect(r.stdout).toContain("aegis service install --now");

    const version = await run([installed, "--version"], { cwd: tempDir() });
    expect(version.stdout).toMatch(VERSION_LINE);

    writeFileSync(join(dest, "etc/aegis/aegis.toml"), "# kept\n");
    const again = await run(["bash", INSTALL], { env: { DESTDIR: dest }, timeoutMs: 30_000 });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("exists: left as it is");
    expect(readFileSync(join(dest, "etc/aegis/aegis.toml"), "utf8")).toBe("# kept\n");
  }, 60_000);

  test("PREFIX moves the executable", async () => {
    const dest = tempDir("aegis-destdir-");
    const r = await run(["bash", INSTALL, binary], { env: { DESTDIR: dest, PREFIX: "/opt/aegis" }, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(existsSync(join(dest, "opt/aegis/bin/aegis"))).toBe(true);
    expect(r.stdout).toContain("/opt/aegis/bin/aegis check --config /etc/aegis/aegis.toml");
  }, 60_000);

  test("a release copied next to install.sh is checked against aegis.sha256 first; a damaged copy is refused", async () => {
    const bundle = tempDir("aegis-release-");
    copyFileSync(binary, join(bundle, "aegis"));
    copyFileSync(INSTALL, join(bundle, "install.sh"));
    const sums = await run(["sha256sum", "aegis"], { cwd: bundle });
    writeFileSync(join(bundle, "aegis.sha256"), sums.stdout);
    const dest = tempDir("aegis-destdir-");
    const ok = await run(["bash", join(bundle, "install.sh")], { env: { DESTDIR: dest }, timeoutMs: 30_000 });
    expect(ok.code).toBe(0);
    expect(ok.stderr).toContain("checksum OK");

    appendFileSync(join(bundle, "aegis"), "x");
    const damagedDest = tempDir("aegis-destdir-");
    const bad = await run(["bash", join(bundle, "install.sh")], { env: { DESTDIR: damagedDest }, timeoutMs: 30_000 });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("does not match");
    expect(existsSync(join(damagedDest, "usr/local/bin/aegis"))).toBe(false);
  }, 60_000);

  test("a missing executable is explained", async () => {
    const r = await run(["bash", INSTALL, join(tempDir(), "nope")], { env: { DESTDIR: tempDir() } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no aegis executable at");
  });
});

describe("scripts/release.sh", () => {
  test("builds dist/aegis and a dist/aegis.sha256 that `sha256sum -c` accepts, there and in a copy", async () => {
    const r = await run(["bash", RELEASE], { timeoutMs: 180_000 });
    expect(r.code).toBe(0);
    const dist = join(REPO, "dist");
    const sums = readFileSync(join(dist, "aegis.sha256"), "utf8");
    expect(sums).toMatch(/^[0-9a-f]{64} {2}aegis\n$/);
    const check = await run(["sha256sum", "-c", "aegis.sha256"], { cwd: dist });
    expect(check.stdout).toBe("aegis: OK\n");

    const copy = join(tempDir("aegis-download-"), "x");
    mkdirSync(copy);
    copyFileSync(join(dist, "aegis"), join(copy, "aegis"));
    copyFileSync(join(dist, "aegis.sha256"), join(copy, "aegis.sha256"));
    expect((await run(["sha256sum", "-c", "aegis.sha256"], { cwd: copy })).code).toBe(0);
    expect((await run([join(dist, "aegis"), "--version"])).stdout).toMatch(VERSION_LINE);
  }, 200_000);
});
