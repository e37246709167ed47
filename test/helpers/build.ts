// The compiled dist/aegis for tests that need the real binary: rebuilt when any source is newer.
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { BINARY, REPO } from "./aegis.ts";

function newestSource(): number {
  const files = ["package.json", "bun.lock", "scripts/build.ts"].map((f) => join(REPO, f));
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else files.push(path);
    }
  };
  walk(join(REPO, "src"));
  return Math.max(...files.filter(existsSync).map((f) => statSync(f).mtimeMs));
}

/** Path of an up-to-date dist/aegis; builds it (about 2 s) when a source file is newer. */
export function ensureBinary(): string {
  if (existsSync(BINARY) && statSync(BINARY).mtimeMs >= newestSource()) return BINARY;
  const build = Bun.spawnSync([process.execPath, "run", "build"], { cwd: REPO, stdout: "pipe", stderr: "pipe" });
  if (build.exitCode !== 0) {
    throw new Error(`bun run build failed (${build.exitCode}):\n${build.stdout.toString()}\n${build.stderr.toString()}`);
  }
  return BINARY;
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion with stdin closed, killed after `timeoutMs`. */
export async function run(argv: string[], options: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<Run> {
  const env: Record<string, string | undefined> = { ...process.env, ...options.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
  const proc = Bun.spawn(argv, { cwd: options.cwd, env: env as Record<string, string>, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs ?? 15_000);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}
