// scripts/install.sh and scripts/release.sh, run for real into temporary directories (DESTDIR, --out),
// and the --version line a user checks after installing.
import { beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, copyFileSync, existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { REPO, tempDir } from "./helpers/aegis.ts";
import { ensureBinary, run } from "./helpers/build.ts";

const INSTALL = join(REPO, "scripts/install.sh");
const RELEASE = join(REPO, "scripts/release.sh");
const HOST = `${process.platform}-${process.arch}`;
const versionLine = (target: string) =>
  new RegExp(`^aegis ${pkg.version.replace(/\./g, "\\.")} \\(commit [0-9a-f]{7,}, built \\d{4}-\\d{2}-\\d{2}, bun ${Bun.version.replace(/\./g, "\\.")}, ${target}\\)\\n$`);

let binary = "";
beforeAll(() => {
  binary = ensureBinary();
}, 120_000);

/** A directory laid out like a release download: aegis-<target> and SHA256SUMS made by sha256sum. */
async function releaseDir(executable: string, name = `aegis-${HOST}`): Promise<string> {
  const dir = tempDir("aegis-release-");
  copyFileSync(executable, join(dir, name));
  const sums = await run(["sha256sum", name], { cwd: dir });
  expect(sums.code).toBe(0);
  writeFileSync(join(dir, "SHA256SUMS"), sums.stdout);
  return dir;
}

describe("scripts/install.sh", () => {
  test("--from a release file checked against SHA256SUMS next to it: DESTDIR/usr/local/bin, /etc/aegis, next steps; a second run keeps /etc/aegis", async () => {
    const dir = await releaseDir(binary);
    const dest = tempDir("aegis-destdir-");
    const from = join(dir, `aegis-${HOST}`);
    const r = await run(["bash", INSTALL, "--from", from], { env: { DESTDIR: dest, PREFIX: undefined }, timeoutMs: 30_000 });
    expect(r.stderr).toContain(`checksum OK (aegis-${HOST})`);
    expect(r.stderr).toContain(`installed ${dest}/usr/local/bin/aegis`);
    expect(r.code).toBe(0);
    const installed = join(dest, "usr/local/bin/aegis");
    expect(statSync(installed).mode & 0o777).toBe(0o755);
    expect(statSync(join(dest, "etc/aegis")).isDirectory()).toBe(true);
    expect(r.stdout).toContain("sudo /usr/local/bin/aegis init --output /etc/aegis/aegis.toml");
    expect(r.stdout).toContain("aegis service install --now");
    expect((await run([installed, "--version"], { cwd: tempDir() })).stdout).toMatch(versionLine(HOST));

    writeFileSync(join(dest, "etc/aegis/aegis.toml"), "# kept\n");
    const again = await run(["bash", INSTALL, "--from", from], { env: { DESTDIR: dest }, timeoutMs: 30_000 });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("exists: left as it is");
    expect(readFileSync(join(dest, "etc/aegis/aegis.toml"), "utf8")).toBe("# kept\n");
  }, 60_000);

  test("a damaged file is refused and nothing is installed; so is a file SHA256SUMS does not list, or no SHA256SUMS", async () => {
    const dir = await releaseDir(binary);
    appendFileSync(join(dir, `aegis-${HOST}`), "x");
    const dest = tempDir("aegis-destdir-");
    const bad = await run(["bash", INSTALL, "--from", join(dir, `aegis-${HOST}`)], { env: { DESTDIR: dest }, timeoutMs: 30_000 });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("does not match");
    expect(existsSync(join(dest, "usr/local/bin/aegis"))).toBe(false);

    const other = await releaseDir(binary, "aegis-other");
    const unlisted = await run(["bash", INSTALL, "--from", binary, "--sums", join(other, "SHA256SUMS")], { env: { DESTDIR: dest } });
    expect(unlisted.code).toBe(1);
    expect(unlisted.stderr).toContain("has no line for aegis");

    const lone = join(tempDir(), "aegis");
    copyFileSync(binary, lone);
    const none = await run(["bash", INSTALL, "--from", lone], { env: { DESTDIR: dest } });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("no checksum file at");
    expect(existsSync(join(dest, "usr/local/bin/aegis"))).toBe(false);
  }, 60_000);

  test("--sums names a checksum file elsewhere; --no-verify takes a local build; PREFIX moves the executable", async () => {
    const dir = await releaseDir(binary, "aegis");
    const dest = tempDir("aegis-destdir-");
    const sums = await run(["bash", INSTALL, "--from", binary, "--sums", join(dir, "SHA256SUMS")], { env: { DESTDIR: dest }, timeoutMs: 30_000 });
    expect(sums.stderr).toContain("checksum OK (aegis)");
    expect(sums.code).toBe(0);

    const r = await run(["bash", INSTALL, "--from", binary, "--no-verify"], { env: { DESTDIR: dest, PREFIX: "/opt/aegis" }, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    expect(existsSync(join(dest, "opt/aegis/bin/aegis"))).toBe(true);
    expect(r.stdout).toContain("/opt/aegis/bin/aegis check --config /etc/aegis/aegis.toml");
  }, 60_000);

  test("without --from it downloads aegis-<target> and SHA256SUMS from AEGIS_RELEASE_URL and checks them", async () => {
    const dir = await releaseDir(binary);
    const dest = tempDir("aegis-destdir-");
    const r = await run(["bash", INSTALL], { env: { DESTDIR: dest, AEGIS_RELEASE_URL: `file://${dir}` }, timeoutMs: 30_000 });
    expect(r.stderr).toContain(`downloading aegis-${HOST} from file://${dir}`);
    expect(r.stderr).toContain("checksum OK");
    expect(r.code).toBe(0);
    expect(existsSync(join(dest, "usr/local/bin/aegis"))).toBe(true);

    const missing = await run(["bash", INSTALL, "--target", "linux-arm64"], { env: { DESTDIR: tempDir(), AEGIS_RELEASE_URL: `file://${dir}` } });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`could not download file://${dir}/aegis-linux-arm64`);
  }, 60_000);

  test("picks the binary from uname and /proc/cpuinfo (AVX2 or the baseline build); refuses an unknown system", async () => {
    const cpu = tempDir("aegis-cpuinfo-");
    writeFileSync(join(cpu, "avx2"), "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 bmi2\n");
    writeFileSync(join(cpu, "old"), "processor\t: 0\nflags\t\t: fpu sse2 sse4_2 avx\n");
    const cases: [string, string, string, string][] = [
      ["Linux", "x86_64", "avx2", "linux-x64"],
      ["Linux", "x86_64", "old", "linux-x64-baseline"],
      ["Linux", "x86_64", "absent", "linux-x64-baseline"],
      ["Linux", "aarch64", "old", "linux-arm64"],
      ["Darwin", "arm64", "old", "darwin-arm64"],
      ["Darwin", "x86_64", "avx2", "darwin-x64"],
    ];
    for (const [s, m, info, want] of cases) {
      const r = await run(["bash", INSTALL, "--print-target"], { env: { AEGIS_UNAME_S: s, AEGIS_UNAME_M: m, AEGIS_CPUINFO: join(cpu, info) } });
      expect(`${s} ${m} ${info}: ${r.stdout}`).toBe(`${s} ${m} ${info}: ${want}\n`);
      expect(r.code).toBe(0);
    }
    const bsd = await run(["bash", INSTALL, "--print-target"], { env: { AEGIS_UNAME_S: "FreeBSD", AEGIS_UNAME_M: "amd64" } });
    expect(bsd.code).toBe(1);
    expect(bsd.stderr).toContain("no aegis binary for FreeBSD amd64");
    const wrong = await run(["bash", INSTALL, "--target", "linux-mips"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("unknown --target 'linux-mips'");
  });

  test("completions and the man page come from the binary when it offers `completion` and `man`", async () => {
    // A stand-in executable with the interface install.sh relies on (aegis completion SHELL, aegis man).
    const tool = join(tempDir("aegis-tool-"), "aegis");
    writeFileSync(tool, `#!/usr/bin/env bash
case "$1 \${2:-}" in
  "--version ") echo "aegis 9.9.9 (commit abcdef0, built 2026-01-01, bun 1.4.5, ${HOST})" ;;
  "completion bash"|"completion zsh"|"completion fish") echo "# $2 completion for aegis" ;;
  "man ") echo '.TH AEGIS 1' ;;
  *) exit 2 ;;
esac
`, { mode: 0o755 });
    const dir = await releaseDir(tool, `aegis-${HOST}`);
    const dest = tempDir("aegis-destdir-");
    const r = await run(["bash", INSTALL, "--from", join(dir, `aegis-${HOST}`)], { env: { DESTDIR: dest }, timeoutMs: 30_000 });
    expect(r.code).toBe(0);
    const share = join(dest, "usr/local/share");
    expect(readFileSync(join(share, "bash-completion/completions/aegis"), "utf8")).toBe("# bash completion for aegis\n");
    expect(readFileSync(join(share, "zsh/site-functions/_aegis"), "utf8")).toBe("# zsh completion for aegis\n");
    expect(readFileSync(join(share, "fish/vendor_completions.d/aegis.fish"), "utf8")).toBe("# fish completion for aegis\n");
    expect(readFileSync(join(share, "man/man1/aegis.1"), "utf8")).toBe(".TH AEGIS 1\n");
    expect(statSync(join(share, "man/man1/aegis.1")).mode & 0o777).toBe(0o644);
  }, 60_000);

  test("a missing executable and a bad argument are explained", async () => {
    const r = await run(["bash", INSTALL, "--from", join(tempDir(), "nope")], { env: { DESTDIR: tempDir() } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no aegis executable at");
    const bad = await run(["bash", INSTALL, "dist/aegis"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("unknown argument 'dist/aegis'");
  });
});

describe("scripts/release.sh", () => {
  test("--targets <this host> (linux-x64 here) builds aegis-<host> and a SHA256SUMS that `sha256sum -c` accepts; the binary names its target; a re-run replaces the directory", async () => {
    const out = join(tempDir("aegis-dist-"), "release");
    const r = await run(["bash", RELEASE, "--targets", HOST, "--out", out], { timeoutMs: 300_000 });
    expect(r.stderr).toContain(`wrote ${out}: aegis-${HOST} SHA256SUMS`);
    expect(r.code).toBe(0);
    expect(readFileSync(join(out, "SHA256SUMS"), "utf8")).toMatch(new RegExp(`^[0-9a-f]{64}  aegis-${HOST}\\n$`));
    const check = await run(["sha256sum", "-c", "SHA256SUMS"], { cwd: out });
    expect(check.stdout).toBe(`aegis-${HOST}: OK\n`);
    expect(check.code).toBe(0);
    expect((await run([join(out, `aegis-${HOST}`), "--version"], { cwd: tempDir() })).stdout).toMatch(versionLine(HOST));

    // What it wrote is what install.sh takes.
    const dest = tempDir("aegis-destdir-");
    const installed = await run(["bash", INSTALL, "--from", join(out, `aegis-${HOST}`)], { env: { DESTDIR: dest }, timeoutMs: 30_000 });
    expect(installed.code).toBe(0);

    writeFileSync(join(out, "aegis-stale"), "old");
    const again = await run(["bash", RELEASE, "--targets", HOST, "--out", out], { timeoutMs: 300_000 });
    expect(again.code).toBe(0);
    expect(existsSync(join(out, "aegis-stale"))).toBe(false);
  }, 600_000);

  test("an unknown target is refused before anything is built", async () => {
    const out = join(tempDir("aegis-dist-"), "release");
    const r = await run(["bash", RELEASE, "--targets", "linux-x64,windows-x64", "--out", out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unknown target 'windows-x64'");
    expect(existsSync(out)).toBe(false);
  });
});
