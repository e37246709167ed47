// The GitHub workflows, checked here since no runner runs them on this machine: they parse, trigger
// on what their comments say, call scripts that exist, and their own shell steps (the tag check)
// pass and fail as they should when run for real against the compiled binary.
import { describe, expect, test } from "bun:test";
import { accessSync, chmodSync, constants, copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, tempDir } from "./helpers/aegis.ts";
import { ensureBinary } from "./helpers/build.ts";

interface Step { uses?: string; run?: string; name?: string; with?: Record<string, unknown>; env?: Record<string, string> }
interface Workflow { name: string; on: Record<string, unknown>; jobs: Record<string, { steps: Step[]; "timeout-minutes"?: number }> }

const load = (name: string) => Bun.YAML.parse(readFileSync(join(REPO, ".github/workflows", name), "utf8")) as Workflow;
const steps = (w: Workflow) => Object.values(w.jobs).flatMap((j) => j.steps);
const VERSION = (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string }).version;

describe("release.yml", () => {
  const release = load("release.yml");

  test("runs on a v* tag, builds with release.sh --strict with the same Bun as the project, and attaches every binary, SHA256SUMS and install.sh", () => {
    expect(release.on).toEqual({ push: { tags: ["v*"] } });
    const all = steps(release);
    expect(all.find((s) => s.uses?.startsWith("oven-sh/setup-bun"))?.with?.["bun-version"]).toBe(Bun.version);
    expect(all.some((s) => s.run === "bash scripts/release.sh --strict")).toBe(true);
    const upload = all.find((s) => s.uses?.startsWith("softprops/action-gh-release"))!;
    expect(String(upload.with!.files).trim().split("\n").map((l) => l.trim())).toEqual(["dist/release/aegis-*", "dist/release/SHA256SUMS", "scripts/install.sh"]);
    expect(upload.with!.fail_on_unmatched_files).toBe(true);
    accessSync(join(REPO, "scripts/release.sh"), constants.R_OK);
    accessSync(join(REPO, "scripts/install.sh"), constants.R_OK);
  });

  test("its tag check, run as the runner runs it: passes for the tag of package.json's version, fails for another", () => {
    const check = steps(release).find((s) => s.name === "The tag must match package.json")!.run!;
    // The runner's checkout after release.sh: dist/release/aegis-linux-x64 is the binary built here.
    const dir = tempDir("aegis-workflow-");
    mkdirSync(join(dir, "dist/release"), { recursive: true });
    copyFileSync(ensureBinary(), join(dir, "dist/release/aegis-linux-x64"));
    chmodSync(join(dir, "dist/release/aegis-linux-x64"), 0o755);
    const run = (tag: string) => Bun.spawnSync(["bash", "-e", "-c", check], { cwd: dir, env: { ...process.env, GITHUB_REF_NAME: tag }, stdout: "pipe", stderr: "pipe" });
    const good = run(`v${VERSION}`);
    expect({ code: good.exitCode, out: good.stdout.toString() }).toEqual({ code: 0, out: "" });
    const bad = run("v0.0.0-not-this");
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout.toString()).toContain(`tag v0.0.0-not-this but the binary says: aegis ${VERSION} `);
  });
});

describe("ci.yml", () => {
  const ci = load("ci.yml");

  test("runs on every push and pull request, installs the Debian packages as root first, then .ci/run with CI=true", () => {
    expect(Object.keys(ci.on).sort()).toEqual(["pull_request", "push"]);
    const all = steps(ci);
    expect(all.find((s) => s.uses?.startsWith("oven-sh/setup-bun"))?.with?.["bun-version"]).toBe(Bun.version);
    const runs = all.filter((s) => s.run).map((s) => s.run);
    expect(runs).toEqual(['sudo env "PATH=$PATH" bash scripts/setup.sh --test', ".ci/run"]);
    expect(all.find((s) => s.run === ".ci/run")!.env).toEqual({ CI: "true" });
    accessSync(join(REPO, ".ci/run"), constants.X_OK);
    accessSync(join(REPO, "scripts/setup.sh"), constants.R_OK);
    // Its time limit leaves room above the suite and the package installs.
    expect(Object.values(ci.jobs)[0]!["timeout-minutes"]).toBeGreaterThanOrEqual(30);
  });
});
