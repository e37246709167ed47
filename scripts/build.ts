// Compiles aegis into one executable (default dist/aegis for this host), with the Worker embedded as a second entry point.
// Usage: bun scripts/build.ts [--target bun-linux-arm64] [--outfile dist/release/aegis-linux-arm64] [--no-minify] [--no-bytecode]
import { $ } from "bun";
import { parseArgs } from "node:util";

const root = new URL("..", import.meta.url).pathname;
const TARGETS = ["bun-linux-x64", "bun-linux-x64-baseline", "bun-linux-arm64", "bun-darwin-x64", "bun-darwin-arm64", "bun-linux-x64-musl", "bun-linux-arm64-musl", "bun-windows-x64"];

let args;
try {
  args = parseArgs({
    args: Bun.argv.slice(2),
    options: {
      target: { type: "string" },
      outfile: { type: "string", default: "dist/aegis" },
      "no-minify": { type: "boolean", default: false },
      "no-bytecode": { type: "boolean", default: false },
    },
  }).values;
} catch (error) {
  console.error(`build: ${(error as Error).message}`);
  process.exit(2);
}
const host = `bun-${process.platform}-${process.arch}`;
const target = args.target ?? host;
if (!TARGETS.includes(target)) {
  console.error(`build: unknown --target ${JSON.stringify(target)}; one of: ${TARGETS.join(", ")}`);
  process.exit(2);
}

const commit = (await $`git rev-parse --short HEAD`.cwd(root).nothrow().quiet().text()).trim() || "unknown";
const date = new Date().toISOString().slice(0, 10);
// A plain build (no --target) reuses the runtime running this script and never fetches one.
const flags = [
  ...(args["no-minify"] ? [] : ["--minify"]),
  ...(args["no-bytecode"] ? [] : ["--bytecode"]),
  ...(args.target === undefined ? [] : [`--target=${target}`]),
];

// The Worker must be its own entry point, or the binary loads it from disk and fails elsewhere.
const result = await $`bun build --compile ${flags} --format=esm \
  --define AEGIS_COMMIT=${JSON.stringify(commit)} --define AEGIS_BUILD_DATE=${JSON.stringify(date)} \
  --define AEGIS_TARGET=${JSON.stringify(target.replace(/^bun-/, ""))} \
  src/main.ts src/worker.ts --outfile ${args.outfile}`.cwd(root).nothrow();
if (result.exitCode !== 0) process.exit(result.exitCode);
